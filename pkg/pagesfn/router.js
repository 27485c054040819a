// cfdeploy's Pages Functions router: the entry of a compiled functions/
// tree. The generated part before this text defines __pagesRoutes (handler
// routes, first match wins), __pagesMiddleware (outermost first) and
// __pagesRules (the _routes.json include and exclude rules).

// A _routes.json rule: "*" matches any run of characters, "/" included;
// everything else is literal; anchored at both ends. Matched part by part
// (no regular expression), so a rule with many stars stays linear.
function __pagesGlob(rule) {
  const parts = rule.split("*");
  return (s) => {
    const first = parts[0], last = parts[parts.length - 1];
    if (parts.length === 1) return s === first;
    if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
    let mid = s.slice(first.length, s.length - last.length);
    for (let i = 1; i < parts.length - 1; i++) {
      const at = mid.indexOf(parts[i]);
      if (at < 0) return false;
      mid = mid.slice(at + parts[i].length);
    }
    return true;
  };
}

const __pagesInclude = __pagesRules.include.map(__pagesGlob);
const __pagesExclude = __pagesRules.exclude.map(__pagesGlob);

// The request path's segments: one trailing slash is optional, as in
// Cloudflare's matcher; empty segments stay (and match nothing dynamic).
function __pagesSegments(pathname) {
  let p = pathname;
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p === "/" ? [] : p.slice(1).split("/");
}

// Matches a route's segments against the request's. With prefix, the route
// may stop early (middleware covers its directory and what is below it).
// Returns the params, or null. Static text matches in either case and
// params keep the request's percent-encoding, as on Cloudflare.
function __pagesMatch(segs, route, prefix) {
  const params = {};
  let i = 0;
  for (const s of route) {
    if (s.rest) {
      const rest = segs.slice(i);
      if (rest.some((x) => x === "")) return null;
      if (rest.length > 0) params[s.name] = rest;
      return params;
    }
    if (i >= segs.length) return null;
    const seg = segs[i++];
    if (s.param) {
      if (seg === "") return null;
      params[s.param] = seg;
    } else if (seg.toLowerCase() !== s.text) {
      return null;
    }
  }
  if (!prefix && i !== segs.length) return null;
  return params;
}

function __pagesPath(segs, n) {
  return "/" + segs.slice(0, n).join("/");
}

function __pagesHandlers(h) {
  return (Array.isArray(h) ? h.flat(Infinity) : [h]).filter((f) => typeof f === "function");
}

// The handlers one request runs: every matching middleware, outermost
// first, then the handlers of the first matching route.
function __pagesChain(request) {
  const url = new URL(request.url);
  const segs = __pagesSegments(url.pathname);
  const chain = [];
  for (const m of __pagesMiddleware) {
    if (m.method && m.method !== request.method) continue;
    const params = __pagesMatch(segs, m.route, true);
    if (!params) continue;
    for (const handler of __pagesHandlers(m.handler)) {
      chain.push({ handler, params, path: __pagesPath(segs, m.route.length) });
    }
  }
  for (const r of __pagesRoutes) {
    if (r.method && r.method !== request.method) continue;
    const params = __pagesMatch(segs, r.route, false);
    if (!params) continue;
    const hs = __pagesHandlers(r.handler);
    if (hs.length === 0) continue;
    for (const handler of hs) chain.push({ handler, params, path: url.pathname });
    break;
  }
  return chain;
}

function __pagesInvoked(pathname) {
  return __pagesInclude.some((m) => m(pathname)) && !__pagesExclude.some((m) => m(pathname));
}

// A response the next handler may change: Workers responses from fetch can
// have immutable headers, and a handler may want to set one.
function __pagesMutable(response) {
  const nullBody = [101, 204, 205, 304].includes(response.status);
  return new Response(nullBody ? null : response.body, response);
}

export default {
  async fetch(originalRequest, env, ctx) {
    let request = originalRequest;
    const assets = (req) => {
      if (!env || !env.ASSETS || typeof env.ASSETS.fetch !== "function") {
        return new Response("Not Found\n", { status: 404 });
      }
      return env.ASSETS.fetch(req);
    };
    if (!__pagesInvoked(new URL(request.url).pathname)) {
      return assets(request);
    }
    const chain = __pagesChain(request);
    let step = 0;
    let data = {};
    let passThrough = false;
    const next = async (input, init) => {
      if (input !== undefined) {
        const target = typeof input === "string" ? new URL(input, request.url).toString() : input;
        request = new Request(target, init);
      }
      if (step >= chain.length) {
        return __pagesMutable(await assets(request));
      }
      const { handler, params, path } = chain[step++];
      const context = {
        // Each handler gets its own copy, so a middleware that reads the
        // body leaves it whole for the next handler and for the assets.
        request: request.clone(),
        functionPath: path,
        params,
        env,
        next,
        get data() {
          return data;
        },
        set data(value) {
          if (typeof value !== "object" || value === null) {
            throw new TypeError("context.data must be an object");
          }
          data = value;
        },
        waitUntil: (p) => (ctx && typeof ctx.waitUntil === "function" ? ctx.waitUntil(p) : undefined),
        passThroughOnException: () => {
          passThrough = true;
        },
      };
      const response = await handler(context);
      if (!(response instanceof Response)) {
        throw new TypeError("a Pages Function must return a Response (functions" + path + ")");
      }
      return __pagesMutable(response);
    };
    try {
      return await next();
    } catch (err) {
      if (passThrough) {
        console.error("Pages Function failed, passing through to the assets:", err && err.stack ? err.stack : String(err));
        return __pagesMutable(await assets(request));
      }
      throw err;
    }
  },
};
