// The Workers globals a fetch handler needs, in their smallest form, and the
// bridge cfhost drives: __cfhost.dispatch takes the request as JSON and
// resolves to the response as JSON. Evaluated once per instance, before any
// tenant module.
(() => {
  "use strict";
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64IDX = new Uint8Array(128).fill(255);
  for (let i = 0; i < 64; i++) B64IDX[B64.charCodeAt(i)] = i;

  function bytesToB64(u8) {
    let out = "";
    let i = 0;
    for (; i + 2 < u8.length; i += 3) {
      const n = (u8[i] << 16) | (u8[i + 1] << 8) | u8[i + 2];
      out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
    }
    if (i < u8.length) {
      const n = (u8[i] << 16) | ((i + 1 < u8.length ? u8[i + 1] : 0) << 8);
      out += B64[n >> 18] + B64[(n >> 12) & 63];
      out += i + 1 < u8.length ? B64[(n >> 6) & 63] + "=" : "==";
    }
    return out;
  }

  function b64ToBytes(s) {
    s = String(s).replace(/[\t\n\f\r =]/g, "");
    const out = new Uint8Array((s.length * 3) >> 2);
    let bits = 0, acc = 0, o = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const v = c < 128 ? B64IDX[c] : 255;
      if (v === 255) throw new DOMException("invalid base64", "InvalidCharacterError");
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 255;
      }
    }
    return out.subarray(0, o);
  }

  function utf8Encode(str) {
    str = String(str);
    const out = new Uint8Array(str.length * 3);
    let o = 0;
    for (let i = 0; i < str.length; i++) {
      let c = str.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < str.length) {
        const d = str.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd;
      } else if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      if (c < 0x80) out[o++] = c;
      else if (c < 0x800) { out[o++] = 0xc0 | (c >> 6); out[o++] = 0x80 | (c & 63); }
      else if (c < 0x10000) { out[o++] = 0xe0 | (c >> 12); out[o++] = 0x80 | ((c >> 6) & 63); out[o++] = 0x80 | (c & 63); }
      else { out[o++] = 0xf0 | (c >> 18); out[o++] = 0x80 | ((c >> 12) & 63); out[o++] = 0x80 | ((c >> 6) & 63); out[o++] = 0x80 | (c & 63); }
    }
    return out.slice(0, o);
  }

  function utf8Decode(u8) {
    let out = "";
    for (let i = 0; i < u8.length;) {
      const c = u8[i];
      let cp = 0xfffd, n = 1;
      if (c < 0x80) cp = c;
      else if (c >= 0xc2 && c < 0xe0 && (u8[i + 1] & 0xc0) === 0x80) { cp = ((c & 31) << 6) | (u8[i + 1] & 63); n = 2; }
      else if (c >= 0xe0 && c < 0xf0 && (u8[i + 1] & 0xc0) === 0x80 && (u8[i + 2] & 0xc0) === 0x80) {
        cp = ((c & 15) << 12) | ((u8[i + 1] & 63) << 6) | (u8[i + 2] & 63); n = 3;
        if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) { cp = 0xfffd; n = 1; }
      } else if (c >= 0xf0 && c < 0xf5 && (u8[i + 1] & 0xc0) === 0x80 && (u8[i + 2] & 0xc0) === 0x80 && (u8[i + 3] & 0xc0) === 0x80) {
        cp = ((c & 7) << 18) | ((u8[i + 1] & 63) << 12) | ((u8[i + 2] & 63) << 6) | (u8[i + 3] & 63); n = 4;
        if (cp < 0x10000 || cp > 0x10ffff) { cp = 0xfffd; n = 1; }
      }
      out += String.fromCodePoint(cp);
      i += n;
    }
    return out;
  }

  class DOMException extends Error {
    constructor(message = "", name = "Error") { super(message); this.name = name; }
  }

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(s = "") { return utf8Encode(s); }
  }
  class TextDecoder {
    get encoding() { return "utf-8"; }
    decode(b) {
      if (b === undefined) return "";
      if (b instanceof ArrayBuffer) return utf8Decode(new Uint8Array(b));
      return utf8Decode(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    }
  }

  // URL: a small WHATWG-shaped parser for the absolute http(s) URLs cfhost
  // hands a handler and the relative references handlers build from them.
  const URL_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*:)\/\/(?:([^@/?#]*)@)?(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?([^?#]*)(\?[^#]*)?(#.*)?$/;
  const DEFAULT_PORT = { "http:": "80", "https:": "443", "ws:": "80", "wss:": "443" };
  function normPath(p) {
    const segs = [];
    for (const s of p.split("/").slice(1)) {
      if (s === "..") segs.pop();
      else if (s !== ".") segs.push(s);
    }
    const last = p.split("/").pop();
    return "/" + segs.join("/") + ((last === "." || last === "..") && segs.length ? "/" : "");
  }
  class URLSearchParams {
    #list = [];
    #url = null;
    constructor(init = "") {
      if (typeof init === "string") this.#parse(init);
      else if (init instanceof URLSearchParams) this.#list = [...init];
      else if (init && typeof init[Symbol.iterator] === "function") for (const [k, v] of init) this.#list.push([String(k), String(v)]);
      else if (init && typeof init === "object") for (const k of Object.keys(init)) this.#list.push([k, String(init[k])]);
    }
    static _bind(p, url) { p.#url = url; return p; }
    #parse(s) {
      this.#list = [];
      if (s.startsWith("?")) s = s.slice(1);
      for (const part of s.split("&")) {
        if (!part) continue;
        const i = part.indexOf("=");
        const dec = (x) => { try { return decodeURIComponent(x.replace(/\+/g, " ")); } catch { return x; } };
        this.#list.push(i < 0 ? [dec(part), ""] : [dec(part.slice(0, i)), dec(part.slice(i + 1))]);
      }
    }
    _reset(s) { this.#parse(s); }
    #update() { if (this.#url) this.#url._setSearch(this.toString()); }
    get size() { return this.#list.length; }
    get(k) { const e = this.#list.find((e) => e[0] === k); return e ? e[1] : null; }
    getAll(k) { return this.#list.filter((e) => e[0] === k).map((e) => e[1]); }
    has(k) { return this.#list.some((e) => e[0] === k); }
    append(k, v) { this.#list.push([String(k), String(v)]); this.#update(); }
    set(k, v) {
      const i = this.#list.findIndex((e) => e[0] === k);
      this.#list = this.#list.filter((e, j) => e[0] !== k || j === i);
      if (i < 0) this.#list.push([String(k), String(v)]); else this.#list[this.#list.findIndex((e) => e[0] === k)][1] = String(v);
      this.#update();
    }
    delete(k) { this.#list = this.#list.filter((e) => e[0] !== k); this.#update(); }
    sort() { this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this.#update(); }
    forEach(fn, self) { for (const [k, v] of this.#list) fn.call(self, v, k, this); }
    keys() { return this.#list.map((e) => e[0])[Symbol.iterator](); }
    values() { return this.#list.map((e) => e[1])[Symbol.iterator](); }
    entries() { return this.#list.map((e) => [e[0], e[1]])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toString() {
      const enc = (x) => encodeURIComponent(x).replace(/%20/g, "+");
      return this.#list.map(([k, v]) => enc(k) + "=" + enc(v)).join("&");
    }
  }
  class URL {
    #p;
    #sp;
    constructor(input, base) {
      input = String(input).trim();
      let m = URL_RE.exec(input);
      if (!m && base !== undefined) {
        const b = new URL(base);
        let path = b.pathname, search = b.search, hash = "";
        const hi = input.indexOf("#");
        if (hi >= 0) { hash = input.slice(hi); input = input.slice(0, hi); }
        const qi = input.indexOf("?");
        if (qi >= 0) { search = input.slice(qi); input = input.slice(0, qi); } else if (input !== "") search = "";
        if (input.startsWith("//")) return new URL(b.protocol + input + search + hash);
        if (input.startsWith("/")) path = input;
        else if (input !== "") path = path.slice(0, path.lastIndexOf("/") + 1) + input;
        m = URL_RE.exec(b.protocol + "//" + b.host + normPath(path) + search + hash);
      }
      if (!m) throw new TypeError("Invalid URL: " + input);
      const protocol = m[1].toLowerCase();
      let port = m[4] || "";
      if (DEFAULT_PORT[protocol] === port) port = "";
      const [username = "", password = ""] = (m[2] || "").split(":");
      this.#p = { protocol, username, password, hostname: m[3].toLowerCase(), port, pathname: normPath(m[5] || "/"), search: m[6] && m[6] !== "?" ? m[6] : "", hash: m[7] && m[7] !== "#" ? m[7] : "" };
      this.#sp = URLSearchParams._bind(new URLSearchParams(this.#p.search), this);
    }
    _setSearch(s) { this.#p.search = s ? "?" + s : ""; }
    get protocol() { return this.#p.protocol; }
    get username() { return this.#p.username; }
    get password() { return this.#p.password; }
    get hostname() { return this.#p.hostname; }
    get port() { return this.#p.port; }
    get host() { return this.#p.hostname + (this.#p.port ? ":" + this.#p.port : ""); }
    get origin() { return this.#p.protocol + "//" + this.host; }
    get pathname() { return this.#p.pathname; }
    set pathname(v) { v = String(v); this.#p.pathname = normPath(v.startsWith("/") ? v : "/" + v); }
    get search() { return this.#p.search; }
    set search(v) { v = String(v); this.#p.search = v && v !== "?" ? (v.startsWith("?") ? v : "?" + v) : ""; this.#sp._reset(this.#p.search); }
    get searchParams() { return this.#sp; }
    get hash() { return this.#p.hash; }
    set hash(v) { v = String(v); this.#p.hash = v && v !== "#" ? (v.startsWith("#") ? v : "#" + v) : ""; }
    get href() {
      const p = this.#p;
      const auth = p.username ? p.username + (p.password ? ":" + p.password : "") + "@" : "";
      return p.protocol + "//" + auth + this.host + p.pathname + p.search + p.hash;
    }
    toString() { return this.href; }
    toJSON() { return this.href; }
    static canParse(u, b) { try { new URL(u, b); return true; } catch { return false; } }
  }

  class Headers {
    #m = new Map();
    constructor(init) {
      if (init instanceof Headers) for (const [k, v] of init) this.append(k, v);
      else if (Array.isArray(init)) for (const [k, v] of init) this.append(k, v);
      else if (init && typeof init === "object") for (const k of Object.keys(init)) this.append(k, init[k]);
    }
    #key(k) {
      k = String(k).toLowerCase();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(k)) throw new TypeError("Invalid header name: " + k);
      return k;
    }
    append(k, v) {
      k = this.#key(k); v = String(v).trim();
      const cur = this.#m.get(k);
      if (k === "set-cookie") { (cur || this.#m.set(k, []).get(k)).push(v); return; }
      this.#m.set(k, cur === undefined ? v : cur + ", " + v);
    }
    set(k, v) { k = this.#key(k); v = String(v).trim(); this.#m.set(k, k === "set-cookie" ? [v] : v); }
    get(k) { const v = this.#m.get(this.#key(k)); return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v; }
    getSetCookie() { return [...(this.#m.get("set-cookie") || [])]; }
    has(k) { return this.#m.has(this.#key(k)); }
    delete(k) { this.#m.delete(this.#key(k)); }
    forEach(fn, self) { for (const [k, v] of this) fn.call(self, v, k, this); }
    *entries() {
      for (const k of [...this.#m.keys()].sort()) {
        const v = this.#m.get(k);
        if (Array.isArray(v)) for (const c of v) yield [k, c]; else yield [k, v];
      }
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
  }

  function toBytes(body) {
    if (body === null || body === undefined) return null;
    if (typeof body === "string") return utf8Encode(body);
    if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
    if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    if (body instanceof URLSearchParams) return utf8Encode(body.toString());
    return utf8Encode(String(body));
  }
  function defaultType(body) {
    if (typeof body === "string") return "text/plain;charset=UTF-8";
    if (body instanceof URLSearchParams) return "application/x-www-form-urlencoded;charset=UTF-8";
    return null;
  }

  class Body {
    #bytes;
    #used = false;
    _initBody(body, headers) {
      this.#bytes = toBytes(body);
      const t = defaultType(body);
      if (t && !headers.has("content-type")) headers.set("content-type", t);
    }
    get bodyUsed() { return this.#used; }
    get body() { return this.#bytes; }
    _bytes() { return this.#bytes; }
    #take() {
      if (this.#used) return Promise.reject(new TypeError("Body has already been used"));
      this.#used = true;
      return Promise.resolve(this.#bytes || new Uint8Array(0));
    }
    async arrayBuffer() { const b = await this.#take(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
    async bytes() { return new Uint8Array(await this.arrayBuffer()); }
    async text() { return utf8Decode(await this.#take()); }
    async json() { return JSON.parse(await this.text()); }
  }

  class Request extends Body {
    #url; #method; #headers;
    constructor(input, init = {}) {
      super();
      const src = input instanceof Request ? input : null;
      this.#url = src ? src.url : new URL(String(input)).href;
      this.#method = String(init.method || (src ? src.method : "GET")).toUpperCase();
      this.#headers = new Headers(init.headers || (src ? src.headers : undefined));
      const body = "body" in init ? init.body : src ? src._bytes() : null;
      if (body != null && (this.#method === "GET" || this.#method === "HEAD")) throw new TypeError("Request with GET/HEAD method cannot have body");
      this._initBody(body, this.#headers);
    }
    get url() { return this.#url; }
    get method() { return this.#method; }
    get headers() { return this.#headers; }
    get redirect() { return "follow"; }
    get signal() { return undefined; }
    clone() { return new Request(this); }
  }

  const STATUS_TEXT = { 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error" };
  class Response extends Body {
    #status; #statusText; #headers;
    constructor(body = null, init = {}) {
      super();
      const status = init.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError("Invalid status: " + init.status);
      this.#status = status;
      this.#statusText = init.statusText !== undefined ? String(init.statusText) : STATUS_TEXT[status] || "";
      this.#headers = new Headers(init.headers);
      this._initBody(body, this.#headers);
    }
    get status() { return this.#status; }
    get statusText() { return this.#statusText; }
    get ok() { return this.#status >= 200 && this.#status < 300; }
    get headers() { return this.#headers; }
    get redirected() { return false; }
    get type() { return "default"; }
    clone() { return new Response(this._bytes(), { status: this.#status, statusText: this.#statusText, headers: this.#headers }); }
    static json(data, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(JSON.stringify(data), { ...init, headers });
    }
    static redirect(url, status = 302) {
      if (![301, 302, 303, 307, 308].includes(status)) throw new RangeError("Invalid redirect status: " + status);
      return new Response(null, { status, headers: { location: new URL(String(url)).href } });
    }
  }

  const logs = [];
  const fmt = (a) => {
    if (typeof a === "string") return a;
    if (a instanceof Error) return a.stack ? a.name + ": " + a.message + "\n" + a.stack : String(a);
    try { return JSON.stringify(a) ?? String(a); } catch { return String(a); }
  };
  const logger = (level) => (...args) => { if (logs.length < 1000) logs.push([level, args.map(fmt).join(" ").slice(0, 8192)]); };
  const console = { log: logger("log"), info: logger("info"), debug: logger("debug"), warn: logger("warn"), error: logger("error") };

  function describe(e) {
    if (e instanceof Error) return (e.name + ": " + e.message) + (e.stack ? "\n" + e.stack : "");
    return "Uncaught " + fmt(e);
  }

  const host = {
    entry: null,
    env: {},
    b64: b64ToBytes,
    check(ns) {
      const d = ns.default;
      if (!d || typeof d.fetch !== "function") throw new TypeError("the entrypoint has no default export with a fetch method");
      host.entry = d;
    },
    async dispatch(json) {
      logs.length = 0;
      const r = JSON.parse(json);
      const init = { method: r.method, headers: r.headers };
      if (r.body) init.body = b64ToBytes(r.body);
      const waits = [];
      const ctx = { waitUntil(p) { waits.push(Promise.resolve(p).catch(() => {})); }, passThroughOnException() {} };
      let res;
      try {
        res = await host.entry.fetch(new Request(r.url, init), host.env, ctx);
        if (!(res instanceof Response)) throw new TypeError("the fetch handler did not return a Response");
      } catch (e) {
        return JSON.stringify({ error: describe(e), logs });
      }
      const body = res._bytes();
      return JSON.stringify({ status: res.status, headers: [...res.headers], body: body ? bytesToB64(body) : "", logs });
    },
  };

  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define("__cfhost", host);
  define("console", console);
  define("URL", URL);
  define("URLSearchParams", URLSearchParams);
  define("Headers", Headers);
  define("Request", Request);
  define("Response", Response);
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("DOMException", DOMException);
  define("atob", (s) => { let o = ""; for (const b of b64ToBytes(s)) o += String.fromCharCode(b); return o; });
  define("btoa", (s) => {
    s = String(s);
    const u8 = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new DOMException("btoa: character out of range", "InvalidCharacterError");
      u8[i] = c;
    }
    return bytesToB64(u8);
  });
})();
