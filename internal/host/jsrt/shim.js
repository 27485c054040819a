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
    let ascii = true;
    for (let i = 0; i < u8.length; i++) if (u8[i] > 127) { ascii = false; break; }
    if (ascii) {
      let s = "";
      for (let i = 0; i < u8.length; i += 8192) s += String.fromCharCode.apply(null, u8.subarray(i, i + 8192));
      return s;
    }
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
    // Most paths have no dot segment: nothing to resolve.
    if (p[0] === "/" && p.indexOf("/.") < 0) return p;
    const segs = [];
    for (const s of p.split("/").slice(1)) {
      if (s === "..") segs.pop();
      else if (s !== ".") segs.push(s);
    }
    const last = p.split("/").pop();
    return "/" + segs.join("/") + ((last === "." || last === "..") && segs.length ? "/" : "");
  }
  // splitURL is URL_RE.exec for the plain absolute http(s) URL most
  // requests carry, with a few indexOf calls instead of the backtracking
  // regex; null for anything else (credentials, IPv6, odd ports), which
  // the regex then handles.
  function splitURL(s) {
    const ci = s.indexOf("://");
    if (ci !== 4 && ci !== 5) return null;
    const proto = s.slice(0, ci + 1).toLowerCase();
    if (proto !== "http:" && proto !== "https:") return null;
    const hi = s.indexOf("#", ci + 3);
    const end = hi < 0 ? s.length : hi;
    let qi = s.indexOf("?", ci + 3);
    if (qi > end) qi = -1;
    const pend = qi < 0 ? end : qi;
    let si = s.indexOf("/", ci + 3);
    if (si < 0 || si > pend) si = pend;
    const auth = s.slice(ci + 3, si);
    if (auth.indexOf("@") >= 0 || auth.indexOf("[") >= 0) return null;
    const pi = auth.indexOf(":");
    const port = pi < 0 ? undefined : auth.slice(pi + 1);
    if (port !== undefined) for (let i = 0; i < port.length; i++) { const c = port.charCodeAt(i); if (c < 48 || c > 57) return null; }
    return [s, proto, undefined, pi < 0 ? auth : auth.slice(0, pi), port, s.slice(si, pend), qi < 0 ? undefined : s.slice(qi, end), hi < 0 ? undefined : s.slice(hi)];
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
  // reqHref is the URL of the request being served when Go found it
  // canonical (ops.go), and reqOrigin its origin: new URL(request.url),
  // which most handlers make, then takes it apart with a few slices
  // instead of parsing it.
  let reqHref = null, reqOrigin = "";
  function canonicalParts(href, origin) {
    const ci = origin.indexOf(":");
    const host = origin.slice(ci + 3);
    const pi = host.indexOf(":");
    const rest = href.slice(origin.length);
    const qi = rest.indexOf("?");
    return {
      protocol: origin.slice(0, ci + 1), username: "", password: "",
      hostname: pi < 0 ? host : host.slice(0, pi), port: pi < 0 ? "" : host.slice(pi + 1),
      pathname: qi < 0 ? rest : rest.slice(0, qi), search: qi < 0 ? "" : rest.slice(qi), hash: "",
    };
  }
  class URL {
    #p;
    #sp;
    constructor(input, base) {
      if (input === reqHref) { this.#p = canonicalParts(reqHref, reqOrigin); this.#sp = null; return; }
      input = typeof input === "string" ? input : String(input);
      if (input.length && (input.charCodeAt(0) <= 32 || input.charCodeAt(input.length - 1) <= 32)) input = input.trim();
      let m = splitURL(input) || URL_RE.exec(input);
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
      let username = "", password = "";
      if (m[2]) {
        const i = m[2].indexOf(":");
        if (i < 0) username = m[2];
        else { username = m[2].slice(0, i); password = m[2].slice(i + 1); }
      }
      this.#p = { protocol, username, password, hostname: m[3].toLowerCase(), port, pathname: normPath(m[5] || "/"), search: m[6] && m[6] !== "?" ? m[6] : "", hash: m[7] && m[7] !== "#" ? m[7] : "" };
      this.#sp = null; // made on first use: most URLs never need it
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
    set search(v) { v = String(v); this.#p.search = v && v !== "?" ? (v.startsWith("?") ? v : "?" + v) : ""; if (this.#sp) this.#sp._reset(this.#p.search); }
    get searchParams() { return this.#sp || (this.#sp = URLSearchParams._bind(new URLSearchParams(this.#p.search), this)); }
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

  // HEADER_NAMES maps header names as handlers write them to their checked,
  // lower-case form.
  const HEADER_NAMES = new Map();
  // headerValue is v as a header value: trimmed, and without the NUL, CR and
  // LF no header may hold (the Fetch standard's rule, which workerd keeps).
  function headerValue(v) {
    v = String(v).trim();
    if (v.indexOf("\n") >= 0 || v.indexOf("\r") >= 0 || v.indexOf("\0") >= 0) throw new TypeError("Invalid header value: " + JSON.stringify(v));
    return v;
  }
  class Headers {
    #m = new Map();
    constructor(init) {
      if (init instanceof Headers) init.#m.forEach((v, k) => this.#m.set(k, typeof v === "string" ? v : v.slice()));
      else if (Array.isArray(init)) for (const [k, v] of init) this.append(k, v);
      else if (init && typeof init === "object") for (const k of Object.keys(init)) this.append(k, init[k]);
    }
    // _fill adds pairs Go already checked: names lower-case tokens, values
    // trimmed (net/http's parser guarantees both), so the per-name checks
    // are skipped on every request.
    _fill(pairs) {
      for (let i = 0; i < pairs.length; i++) this.#add(pairs[i][0], pairs[i][1]);
      return this;
    }
    // _fillLines adds the "name\nvalue" lines of s from index at on, as Go
    // sends a request's headers (fastops.go), checked as _fill's are.
    _fillLines(s, at) {
      while (at < s.length) {
        const a = s.indexOf("\n", at);
        let b = s.indexOf("\n", a + 1);
        if (a < 0) break;
        if (b < 0) b = s.length;
        this.#add(s.slice(at, a), s.slice(a + 1, b));
        at = b + 1;
      }
      return this;
    }
    #add(k, v) {
      const m = this.#m, cur = m.get(k);
      if (k === "set-cookie") { if (cur) cur.push(v); else m.set(k, [v]); }
      else m.set(k, cur === undefined ? v : cur + ", " + v);
    }
    // _pairs is every [name, value], in no particular order: what crosses
    // to Go, where order does not matter.
    _pairs() {
      const out = [];
      this.#m.forEach((v, k) => {
        if (typeof v === "string") out.push([k, v]);
        else for (let i = 0; i < v.length; i++) out.push([k, v[i]]);
      });
      return out;
    }
    // _head is every name and value as "name\nvalue" lines, the form a
    // response head crosses to Go in: no name or value holds a newline.
    _head() {
      let out = "";
      this.#m.forEach((v, k) => {
        if (typeof v === "string") out += (out ? "\n" : "") + k + "\n" + v;
        else for (let i = 0; i < v.length; i++) out += (out ? "\n" : "") + k + "\n" + v[i];
      });
      return out;
    }
    #key(k) {
      // Names a handler uses are few: each is checked once.
      const known = typeof k === "string" ? HEADER_NAMES.get(k) : undefined;
      if (known !== undefined) return known;
      const n = String(k).toLowerCase();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(n)) throw new TypeError("Invalid header name: " + n);
      if (typeof k === "string" && HEADER_NAMES.size < 1024) HEADER_NAMES.set(k, n);
      return n;
    }
    append(k, v) {
      k = this.#key(k); v = headerValue(v);
      const cur = this.#m.get(k);
      if (k === "set-cookie") { (cur || this.#m.set(k, []).get(k)).push(v); return; }
      this.#m.set(k, cur === undefined ? v : cur + ", " + v);
    }
    set(k, v) { k = this.#key(k); v = headerValue(v); this.#m.set(k, k === "set-cookie" ? [v] : v); }
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

  // The bridge to Go (hostcall.go): one function taking "op\nJSON head"
  // and an optional body: an ArrayBuffer, or a string without NUL
  // characters ("op text\n…") that Go encodes as UTF-8; answering a frame [u32 head length][JSON
  // head, ASCII][bytes]; a head of length 0 is null.
  let hostFn = null;
  // MB is the mailbox: a view of the ArrayBuffer whose storage Go reads and
  // writes, MB_SIZE bytes. No tenant code may ever see it (it could detach
  // the buffer, and Go would write into memory the engine gave back), so it
  // is only handed to the set of typed arrays as it was before any tenant
  // module ran, not to what a tenant may have put on the prototypes.
  let MB = null, MB_SIZE = 0;
  const TA_SET = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "set").value;
  const apply = Reflect.apply;
  const EMPTY = new Uint8Array(0);
  const ERRORS = { TypeError, RangeError, Error };
  function hostCall(op, head, body) {
    let buf;
    if (typeof body === "string") buf = body.indexOf("\0") < 0 ? body : utf8Encode(body).buffer;
    else if (body && body.length) buf = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body.buffer : body.slice().buffer;
    const h = op + (typeof buf === "string" ? " text\n" : "\n") + (head === undefined ? "null" : JSON.stringify(head));
    return readFrame(buf ? hostFn(h, buf) : hostFn(h));
  }

  // The per-request operations (fastops.go): hostFn(op, ...) with op a
  // number, answering undefined, or an error frame to throw.
  const OP_REQUEST = 1, OP_BODY = 2, OP_RESPOND = 3, OP_CHUNK = 4, OP_END = 5, OP_LOG = 6, OP_DONE = 7;
  function fastCall(r) { if (r !== undefined) readFrame(r); }
  // bodyArg is how a body crosses: a string as it is (Go encodes it), bytes
  // copied into the mailbox (their length) when they fit, an ArrayBuffer
  // otherwise.
  function bodyArg(b) {
    if (typeof b === "string") return b.indexOf("\0") < 0 ? b : bodyArg(utf8Encode(b));
    const n = b.length;
    if (n <= MB_SIZE) { apply(TA_SET, MB, [b]); return n; }
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer;
  }

  // readFrame reads an answer frame, throwing the error it holds.
  function readFrame(r) {
    if (!(r instanceof ArrayBuffer)) throw new RangeError("out of memory");
    const u = new Uint8Array(r);
    const n = u[0] | (u[1] << 8) | (u[2] << 16) | (u[3] << 24);
    // Go escapes every non-ASCII character of a head, so its bytes are
    // its characters.
    const rh = n === 0 ? null : JSON.parse(String.fromCharCode.apply(null, u.subarray(4, 4 + n)));
    if (rh && rh.error !== undefined) {
      const E = ERRORS[rh.type];
      throw E ? new E(rh.error) : new DOMException(rh.error, rh.type || "Error");
    }
    return [rh, u.subarray(4 + n)];
  }

  // ReadableStream: the part of the WHATWG API handlers use to stream a
  // body or read one (getReader, async iteration, tee, pipeThrough), and
  // TransformStream for writers that produce one. Written here rather than
  // bundled from web-streams-polyfill: that is some 100 KB every new
  // instance would parse before its first request, for the few methods a
  // fetch handler uses.
  class ReadableStreamDefaultController {
    #s;
    constructor(s) { this.#s = s; }
    enqueue(chunk) { this.#s._enqueue(chunk); }
    close() { this.#s._close(); }
    error(e) { this.#s._error(e); }
    get desiredSize() { return this.#s._desired(); }
  }
  class ReadableStreamDefaultReader {
    #s;
    constructor(s) {
      if (s._locked) throw new TypeError("ReadableStream is locked");
      s._locked = true;
      this.#s = s;
    }
    read() { return this.#s ? this.#s._read() : Promise.reject(new TypeError("reader released")); }
    cancel(r) { return this.#s ? this.#s.cancel(r, true) : Promise.resolve(); }
    releaseLock() { if (this.#s) { this.#s._locked = false; this.#s = null; } }
    get closed() { return this.#s ? this.#s._closedP : Promise.resolve(); }
  }
  let markBodyStream, claimBodyStream;
  class ReadableStream {
    #q = []; #waiters = []; #state = "readable"; #err; #src; #ctrl; #pulling = false; #hwm;
    constructor(source = {}, strategy = {}) {
      this._locked = false;
      this.#src = source;
      this.#hwm = strategy.highWaterMark ?? 1;
      this.#ctrl = new ReadableStreamDefaultController(this);
      let closed;
      this._closedP = new Promise((res) => (closed = res));
      this._closedRes = closed;
      Promise.resolve(source.start ? source.start(this.#ctrl) : undefined).then(() => this.#pull(), (e) => this._error(e));
    }
    get locked() { return this._locked; }
    // #bodySrc is the text or bytes a body stream stands for
    // (bodyStream), private so that tenant code can neither read nor forge
    // it: only the shim's markBodyStream and claimBodyStream reach it.
    #bodySrc = undefined;
    static {
      markBodyStream = (s, src) => { s.#bodySrc = src; };
      // claimBodyStream hands over what a body stream stands for when
      // nothing has touched it yet, and locks it: it belongs to the body
      // built from it now. Undefined for any other stream.
      claimBodyStream = (s) => {
        if (s.#bodySrc === undefined || s._locked || s.#state !== "readable" || s.#q.length || s.#pulling) return undefined;
        s._locked = true;
        return s.#bodySrc;
      };
    }
    _desired() { return this.#state === "readable" ? this.#hwm - this.#q.length : 0; }
    _enqueue(c) {
      if (this.#state !== "readable") throw new TypeError("stream is closed");
      const w = this.#waiters.shift();
      if (w) w.resolve({ value: c, done: false }); else this.#q.push(c);
    }
    _close() {
      if (this.#state !== "readable") return;
      this.#state = "closed";
      if (!this.#q.length) this.#flush();
    }
    _error(e) {
      if (this.#state !== "readable") return;
      this.#state = "errored"; this.#err = e; this.#q = [];
      for (const w of this.#waiters.splice(0)) w.reject(e);
      this._closedRes();
    }
    #flush() {
      for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
      this._closedRes();
    }
    #pull() {
      if (this.#pulling || this.#state !== "readable" || !this.#src.pull) return;
      if (this.#q.length >= this.#hwm && !this.#waiters.length) return;
      this.#pulling = true;
      Promise.resolve().then(() => this.#src.pull(this.#ctrl)).then(() => {
        this.#pulling = false;
        if (this.#waiters.length || this.#q.length < this.#hwm) this.#pull();
      }, (e) => { this.#pulling = false; this._error(e); });
    }
    _read() {
      if (this.#q.length) {
        const value = this.#q.shift();
        if (this.#state === "closed" && !this.#q.length) this.#flush();
        this.#pull();
        return Promise.resolve({ value, done: false });
      }
      if (this.#state === "closed") return Promise.resolve({ value: undefined, done: true });
      if (this.#state === "errored") return Promise.reject(this.#err);
      const p = new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
      this.#pull();
      return p;
    }
    cancel(reason, fromReader) {
      if (this._locked && !fromReader) return Promise.reject(new TypeError("ReadableStream is locked"));
      if (this.#state !== "readable" && this.#state !== "closed") return Promise.resolve();
      this.#state = "closed"; this.#q = [];
      this.#flush();
      return Promise.resolve(this.#src.cancel ? this.#src.cancel(reason) : undefined).then(() => undefined);
    }
    getReader() { return new ReadableStreamDefaultReader(this); }
    async *values() {
      const r = this.getReader();
      try {
        for (;;) { const { value, done } = await r.read(); if (done) return; yield value; }
      } finally { r.releaseLock(); }
    }
    [Symbol.asyncIterator]() { return this.values(); }
    tee() {
      const r = this.getReader();
      const branches = [];
      let pending = null;
      const pull = () => pending || (pending = r.read().then(({ value, done }) => {
        pending = null;
        for (const c of branches) { if (done) c.close(); else c.enqueue(value); }
      }));
      for (let i = 0; i < 2; i++) branches.push(null);
      const a = new ReadableStream({ start(c) { branches[0] = c; }, pull });
      const b = new ReadableStream({ start(c) { branches[1] = c; }, pull });
      return [a, b];
    }
    pipeThrough(t) { this.pipeTo(t.writable).catch(() => {}); return t.readable; }
    async pipeTo(ws) {
      const w = ws.getWriter();
      try { for await (const c of this) await w.write(c); await w.close(); } catch (e) { await w.abort(e); throw e; }
    }
    static from(it) {
      const i = (it[Symbol.asyncIterator] || it[Symbol.iterator]).call(it);
      return new ReadableStream({ async pull(c) { const { value, done } = await i.next(); if (done) c.close(); else c.enqueue(value); } });
    }
  }
  class WritableStreamDefaultWriter {
    #w;
    constructor(w) { this.#w = w; }
    write(c) { return this.#w._write(c); }
    close() { return this.#w._close(); }
    abort(r) { return this.#w._abort(r); }
    releaseLock() {}
    get ready() { return Promise.resolve(); }
    get closed() { return this.#w._closed; }
    get desiredSize() { return 1; }
  }
  class WritableStream {
    #sink; #chain = Promise.resolve();
    constructor(sink = {}) {
      this.#sink = sink;
      let res; this._closed = new Promise((r) => (res = r)); this._res = res;
      this.#chain = Promise.resolve(sink.start ? sink.start({ error() {} }) : undefined);
    }
    getWriter() { return new WritableStreamDefaultWriter(this); }
    _write(c) { return (this.#chain = this.#chain.then(() => this.#sink.write && this.#sink.write(c))); }
    _close() { return (this.#chain = this.#chain.then(() => this.#sink.close && this.#sink.close()).then(() => this._res())); }
    _abort(r) { return Promise.resolve(this.#sink.abort && this.#sink.abort(r)).then(() => this._res()); }
  }
  class TransformStream {
    constructor(t = {}) {
      let rc;
      this.readable = new ReadableStream({ start(c) { rc = c; } });
      const ctrl = { enqueue: (c) => rc.enqueue(c), error: (e) => rc.error(e), terminate: () => rc.close() };
      this.writable = new WritableStream({
        write: (c) => (t.transform ? t.transform(c, ctrl) : rc.enqueue(c)),
        close: async () => { if (t.flush) await t.flush(ctrl); rc.close(); },
        abort: (e) => rc.error(e),
      });
    }
  }
  async function readAll(stream) {
    const parts = [];
    let n = 0;
    for await (let c of stream) {
      if (typeof c === "string") c = utf8Encode(c);
      else if (c instanceof ArrayBuffer) c = new Uint8Array(c);
      else if (!ArrayBuffer.isView(c)) throw new TypeError("a body stream must yield Uint8Array chunks");
      else c = new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
      parts.push(c); n += c.length;
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
  // bodyStream is the stream a body held as text or bytes gives: nothing
  // is encoded or queued until it is read, and a body built from it while
  // it is untouched (new Response(res.body, res), as routers do to change
  // a finished response's headers) takes the text or bytes back rather
  // than reading it chunk by chunk.
  function bodyStream(src) {
    const s = new ReadableStream({
      pull(c) {
        const b = typeof src === "string" ? utf8Encode(src) : src;
        if (b.length) c.enqueue(b);
        c.close();
      },
    }, { highWaterMark: 0 });
    markBodyStream(s, src);
    return s;
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

  // Body holds bytes, or a stream when a handler built one.
  class Body {
    #bytes = null;
    #text = null; // a string body, encoded only when bytes are asked for
    #stream = null;
    #used = false;
    _initBody(body, headers) {
      if (body instanceof ReadableStream) {
        const src = claimBodyStream(body);
        if (src === undefined) this.#stream = body;
        else if (typeof src === "string") this.#text = src;
        else this.#bytes = src;
      } else if (typeof body === "string") this.#text = body;
      else this.#bytes = toBytes(body);
      // Without headers (a Response that has made none yet) the caller
      // keeps the default type until they are made.
      const t = defaultType(body);
      if (t && headers && !headers.has("content-type")) headers.set("content-type", t);
      return t;
    }
    // _setBytes takes bytes nothing else holds (a request body from Go)
    // without the copy _initBody makes of what a handler passes.
    _setBytes(b) { this.#bytes = b; }
    get bodyUsed() { return this.#used; }
    get body() {
      if (!this.#stream && (this.#text !== null || this.#bytes)) this.#stream = bodyStream(this.#text !== null ? this.#text : this.#bytes);
      return this.#stream;
    }
    _bytes() {
      if (this.#text !== null) { this.#bytes = utf8Encode(this.#text); this.#text = null; }
      return this.#bytes;
    }
    // _raw is the body as it is held, a string or bytes (null for none or
    // a stream): send hands a string to Go as it is, which encodes it.
    _raw() { return this.#text !== null ? this.#text : this.#bytes; }
    _stream() { return this.#stream && !this.#bytes && this.#text === null ? this.#stream : null; }
    _cloneBody() {
      if (this._stream()) { const [a, b] = this.#stream.tee(); this.#stream = a; return b; }
      return this._raw();
    }
    async #take() {
      if (this.#used) throw new TypeError("Body has already been used");
      this.#used = true;
      if (this._stream()) return readAll(this.#stream);
      return this._bytes() || new Uint8Array(0);
    }
    async arrayBuffer() { const b = await this.#take(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
    async bytes() { return new Uint8Array(await this.arrayBuffer()); }
    async text() {
      if (this.#text !== null && !this.#used) { this.#used = true; return this.#text; }
      return utf8Decode(await this.#take());
    }
    async json() { return JSON.parse(await this.text()); }
    async formData() { throw new TypeError("formData() is not supported by this host"); }
    async blob() { throw new TypeError("blob() is not supported by this host"); }
  }

  // incoming is set by dispatch while it builds the request Go handed over:
  // its URL was just parsed and its headers checked by Go, and they are
  // made into Headers only if the handler looks at them.
  let incoming = null;
  class Request extends Body {
    #url; #method; #headers; #redirect; #lines = ""; #at = 0;
    constructor(input, init = {}) {
      super();
      const trusted = incoming;
      incoming = null;
      if (trusted) {
        this.#url = trusted.href;
        this.#method = trusted.method.toUpperCase();
        this.#headers = null;
        this.#lines = trusted.lines;
        this.#at = trusted.at;
        this.#redirect = "follow";
        this._setBytes(trusted.body);
        return;
      }
      const src = input instanceof Request ? input : null;
      this.#url = src ? src.url : new URL(String(input)).href;
      this.#method = String(init.method || (src ? src.method : "GET")).toUpperCase();
      this.#headers = new Headers(init.headers || (src ? src.headers : undefined));
      this.#redirect = init.redirect || (src ? src.redirect : "follow");
      const body = "body" in init ? init.body : src ? src._cloneBody() : null;
      if (body != null && (this.#method === "GET" || this.#method === "HEAD")) throw new TypeError("Request with GET/HEAD method cannot have body");
      this._initBody(body, this.#headers);
    }
    get url() { return this.#url; }
    get method() { return this.#method; }
    get headers() { return this.#headers || (this.#headers = new Headers()._fillLines(this.#lines, this.#at)); }
    get redirect() { return this.#redirect; }
    get signal() { return undefined; }
    clone() { return new Request(this); }
  }

  const STATUS_TEXT = { 200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable" };
  // A Response makes its Headers only when they are asked for or given:
  // until then #type is the content-type its body implies.
  class Response extends Body {
    #status = 200; #statusText = "OK"; #headers = null; #type = null; #url = ""; #redirected = false;
    constructor(body = null, init = undefined) {
      super();
      if (init !== undefined && init !== null) {
        const status = init.status === undefined ? 200 : Number(init.status);
        if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError("Invalid status: " + init.status);
        this.#status = status;
        this.#statusText = init.statusText !== undefined ? String(init.statusText) : STATUS_TEXT[status] || "";
        if (init.headers !== undefined) this.#headers = new Headers(init.headers);
      }
      const t = this._initBody(body, this.#headers);
      if (!this.#headers) this.#type = t;
    }
    _setOrigin(url, redirected) { this.#url = url; this.#redirected = redirected; return this; }
    _setType(t) { this.#type = t; return this; }
    // _head is the head's headers as they cross to Go (Headers._head).
    _head() { return this.#headers ? this.#headers._head() : this.#type ? "content-type\n" + this.#type : ""; }
    get status() { return this.#status; }
    get statusText() { return this.#statusText; }
    get ok() { return this.#status >= 200 && this.#status < 300; }
    get headers() {
      if (!this.#headers) {
        this.#headers = new Headers();
        if (this.#type) this.#headers.set("content-type", this.#type);
      }
      return this.#headers;
    }
    get redirected() { return this.#redirected; }
    get url() { return this.#url; }
    get type() { return "default"; }
    get webSocket() { return null; }
    clone() {
      if (this.bodyUsed) throw new TypeError("Body has already been used");
      return new Response(this._cloneBody(), { status: this.#status, statusText: this.#statusText, headers: this.headers })._setOrigin(this.#url, this.#redirected);
    }
    static json(data, init = {}) {
      if (init.headers === undefined) return new Response(JSON.stringify(data), init)._setType("application/json");
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(JSON.stringify(data), { ...init, headers });
    }
    static redirect(url, status = 302) {
      if (![301, 302, 303, 307, 308].includes(status)) throw new RangeError("Invalid redirect status: " + status);
      return new Response(null, { status, headers: { location: new URL(String(url)).href } });
    }
    static error() { return new Response(null, { status: 502 }); }
  }

  // Subrequests: env.ASSETS.fetch and fetch() both send a request to Go
  // and get the whole response back.
  async function subrequest(op, input, init) {
    const req = input instanceof Request && init === undefined ? input : new Request(input instanceof URL ? input.href : input, init);
    const body = req._stream() ? await readAll(req.body) : req._raw();
    const [h, b] = hostCall(op, { url: req.url, method: req.method, headers: req.headers._pairs(), redirect: req.redirect }, body);
    const nullBody = h.status === 204 || h.status === 304 || req.method === "HEAD";
    const res = new Response(nullBody ? null : b.slice(), { status: h.status, statusText: h.statusText, headers: h.headers });
    return res._setOrigin(h.url || req.url, !!h.redirected);
  }
  function assetsURL(input) {
    if (typeof input === "string" && input.startsWith("/")) return new URL(input, host.origin).href;
    return input;
  }
  const ASSETS = Object.freeze({
    fetch(input, init) { return subrequest("assets", input instanceof Request ? input : assetsURL(String(input instanceof URL ? input.href : input)), init); },
  });

  // Timers run for real inside the request's deadline: Go's event loop
  // (instance.await) sleeps until the next one is due and calls tick.
  let timerSeq = 0;
  const timers = new Map();
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== "function") throw new TypeError("timer callback is not a function");
    const id = ++timerSeq;
    ms = Math.max(0, Number(ms) || 0);
    timers.set(id, { fn, args, due: Date.now() + ms, every: repeat ? Math.max(1, ms) : 0 });
    return id;
  }
  function tick() {
    const now = Date.now();
    for (const [id, t] of [...timers].sort((a, b) => a[1].due - b[1].due)) {
      if (t.due > now) break;
      if (!timers.has(id)) continue;
      if (t.every) t.due = now + t.every; else timers.delete(id);
      try { t.fn(...t.args); } catch (e) { console.error("Uncaught (in timer)", e); }
    }
    let next = -1;
    for (const t of timers.values()) if (next < 0 || t.due < next) next = t.due;
    return next < 0 ? -1 : Math.max(0, next - Date.now());
  }

  // Web Crypto: digest, HMAC keys, random values, all done in Go.
  const HASHES = { "SHA-1": 1, "SHA-256": 1, "SHA-384": 1, "SHA-512": 1 };
  const hashName = (a) => {
    const n = String(typeof a === "object" && a ? a.name : a).toUpperCase();
    if (!HASHES[n]) throw new DOMException("Unrecognized hash algorithm: " + n, "NotSupportedError");
    return n;
  };
  const viewBytes = (d) => {
    if (d instanceof ArrayBuffer) return new Uint8Array(d);
    if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    throw new TypeError("expected an ArrayBuffer or a view of one");
  };
  class CryptoKey {
    #raw;
    constructor(raw, algorithm, extractable, usages) {
      this.#raw = raw;
      Object.defineProperties(this, {
        type: { value: "secret", enumerable: true }, algorithm: { value: algorithm, enumerable: true },
        extractable: { value: extractable, enumerable: true }, usages: { value: usages, enumerable: true },
      });
    }
    static _raw(k) { return k.#raw; }
  }
  const subtle = {
    async digest(alg, data) { return hostCall("digest", { alg: hashName(alg) }, viewBytes(data))[1].slice().buffer; },
    async importKey(format, keyData, alg, extractable, usages) {
      if (format !== "raw") throw new DOMException("only raw keys are supported", "NotSupportedError");
      if (String(alg.name).toUpperCase() !== "HMAC") throw new DOMException("only HMAC keys are supported", "NotSupportedError");
      const raw = viewBytes(keyData).slice();
      return new CryptoKey(raw, { name: "HMAC", hash: { name: hashName(alg.hash) }, length: raw.length * 8 }, !!extractable, [...usages]);
    },
    async exportKey(format, key) {
      if (format !== "raw" || !key.extractable) throw new DOMException("key is not extractable as raw", "InvalidAccessError");
      return CryptoKey._raw(key).slice().buffer;
    },
    async sign(alg, key, data) {
      if (!key.usages.includes("sign")) throw new DOMException("key cannot sign", "InvalidAccessError");
      return hostCall("hmac", { alg: key.algorithm.hash.name, key: bytesToB64(CryptoKey._raw(key)) }, viewBytes(data))[1].slice().buffer;
    },
    async verify(alg, key, sig, data) {
      if (!key.usages.includes("verify")) throw new DOMException("key cannot verify", "InvalidAccessError");
      return hostCall("hmac", { alg: key.algorithm.hash.name, key: bytesToB64(CryptoKey._raw(key)), sig: bytesToB64(viewBytes(sig)) }, viewBytes(data))[0].ok;
    },
  };
  const crypto = {
    subtle,
    getRandomValues(a) {
      if (!ArrayBuffer.isView(a) || a instanceof Float32Array || a instanceof Float64Array || a instanceof DataView) throw new TypeError("getRandomValues needs an integer typed array");
      const b = hostCall("random", { n: a.byteLength })[1];
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(b);
      return a;
    },
    randomUUID() {
      const b = crypto.getRandomValues(new Uint8Array(16));
      b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
      const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
      return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
    },
  };

  // structuredClone for the data a handler passes around: primitives,
  // plain objects, arrays, Date, RegExp, Map, Set, ArrayBuffer, typed
  // arrays, errors, with shared and cyclic references kept.
  function structuredClone(v, seen = new Map()) {
    if (v === null || typeof v !== "object") {
      if (typeof v === "function" || typeof v === "symbol") throw new DOMException(String(v) + " could not be cloned", "DataCloneError");
      return v;
    }
    if (seen.has(v)) return seen.get(v);
    let out;
    if (Array.isArray(v)) { out = []; seen.set(v, out); for (const k of Object.keys(v)) out[k] = structuredClone(v[k], seen); return out; }
    if (v instanceof Date) out = new Date(v.getTime());
    else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
    else if (v instanceof ArrayBuffer) out = v.slice(0);
    else if (ArrayBuffer.isView(v)) { const buf = structuredClone(v.buffer, seen); out = new v.constructor(buf, v.byteOffset, v instanceof DataView ? v.byteLength : v.length); }
    else if (v instanceof Map) { out = new Map(); seen.set(v, out); for (const [k, x] of v) out.set(structuredClone(k, seen), structuredClone(x, seen)); return out; }
    else if (v instanceof Set) { out = new Set(); seen.set(v, out); for (const x of v) out.add(structuredClone(x, seen)); return out; }
    else if (v instanceof Error) { out = new (ERRORS[v.name] || Error)(v.message); if (v.stack) out.stack = v.stack; }
    else if (v instanceof Boolean || v instanceof Number || v instanceof String) out = Object(v.valueOf());
    else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new DOMException("an object of class " + (v.constructor && v.constructor.name) + " could not be cloned", "DataCloneError");
      out = {}; seen.set(v, out);
      for (const k of Object.keys(v)) out[k] = structuredClone(v[k], seen);
      return out;
    }
    seen.set(v, out);
    return out;
  }

  // CommonJS: require() of a sibling module (.cjs, .js, .json, text,
  // data), resolved against the requiring module's directory.
  const cjsCache = new Map();
  function makeRequire(from) {
    return function require(spec) {
      const [h, src] = hostCall("module", { from, spec: String(spec) });
      if (cjsCache.has(h.name)) return cjsCache.get(h.name).exports;
      const text = utf8Decode(src);
      const module = { exports: {}, id: h.name, filename: h.name, loaded: false };
      cjsCache.set(h.name, module);
      switch (h.type) {
        case "json": module.exports = JSON.parse(text); break;
        case "text": module.exports = text; break;
        case "data": module.exports = src.slice().buffer; break;
        case "cjs": case "js": {
          const dir = h.name.includes("/") ? h.name.slice(0, h.name.lastIndexOf("/")) : "";
          const fn = new Function("exports", "require", "module", "__filename", "__dirname", text + "\n//# sourceURL=" + h.name);
          fn.call(module.exports, module.exports, makeRequire(h.name), module, h.name, dir);
          break;
        }
        default: throw new Error("cannot require " + h.name + " (" + h.type + ")");
      }
      module.loaded = true;
      return module.exports;
    };
  }

  const fmt = (a) => {
    if (typeof a === "string") return a;
    if (a instanceof Error) return a.stack ? a.name + ": " + a.message + "\n" + a.stack : String(a);
    try { return JSON.stringify(a) ?? String(a); } catch { return String(a); }
  };
  // Levels by number, as fastops.go has them.
  const logger = (level) => (...args) => {
    let msg = args.map(fmt).join(" ").slice(0, 8192);
    if (msg.indexOf("\0") >= 0) msg = msg.replaceAll("\0", "\ufffd");
    try { hostFn(OP_LOG, level, msg); } catch {}
  };
  const console = { log: logger(0), info: logger(1), debug: logger(2), warn: logger(3), error: logger(4), trace: logger(2) };

  function describe(e) {
    if (e instanceof Error) return (e.name + ": " + e.message) + (e.stack ? "\n" + e.stack : "");
    return "Uncaught " + fmt(e);
  }

  // send hands the response to Go: whole when its body is bytes or text,
  // in chunks as its stream yields them otherwise, and then it returns the
  // promise of the last.
  function send(res) {
    const s = res._stream();
    if (!s) {
      const raw = res._raw();
      // "| 0": a status parsed from JSON may be held as a double; Go reads
      // an integer.
      fastCall(hostFn(OP_RESPOND, res.status | 0, res._head(), raw === null ? undefined : bodyArg(raw)));
      return undefined;
    }
    fastCall(hostFn(OP_RESPOND, res.status | 0, res._head(), -1));
    return pump(s);
  }
  async function pump(s) {
    for await (let c of s) {
      if (typeof c === "string") c = utf8Encode(c);
      else if (c instanceof ArrayBuffer) c = new Uint8Array(c);
      else if (!ArrayBuffer.isView(c)) throw new TypeError("a body stream must yield Uint8Array chunks");
      else c = new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
      if (c.length) fastCall(hostFn(OP_CHUNK, bodyArg(c)));
    }
    fastCall(hostFn(OP_END));
  }

  // The ctx of a fetch handler.
  class ExecutionContext {
    #waits;
    constructor(waits) { this.#waits = waits; }
    waitUntil(p) { this.#waits.push(Promise.resolve(p).catch((e) => console.error("Uncaught (in waitUntil)", e))); }
    passThroughOnException() {}
  }

  // The steps of a request after the handler, each taken at once when the
  // one before did not need to wait: a handler that returns its Response
  // is served inside the one call that dispatches it.
  function respond(res, waits) {
    if (!(res instanceof Response)) return done(describe(new TypeError("the fetch handler did not return a Response")));
    let p;
    try { p = send(res); } catch (e) { return done(describe(e)); }
    if (p) return p.then(() => settle(waits), (e) => done(describe(e)));
    return settle(waits);
  }
  function settle(waits) {
    if (!waits.length) return done("");
    return Promise.all(waits).then(() => done(""));
  }
  // done tells Go the request is over, with the handler's uncaught error
  // if it failed.
  function done(uncaught) {
    timers.clear();
    if (uncaught) hostFn(OP_DONE, uncaught); else hostFn(OP_DONE);
  }

  const host = {
    entry: null,
    env: {},
    origin: "",
    b64: b64ToBytes,
    tick,
    require: makeRequire,
    setHost(fn, mailbox) { if (!hostFn) { hostFn = fn; MB = new Uint8Array(mailbox); MB_SIZE = mailbox.byteLength; } },
    check(ns) {
      const d = ns.default;
      if (!d || typeof d.fetch !== "function") throw new TypeError("the entrypoint has no default export with a fetch method");
      host.entry = d;
    },
    // dispatch runs the handler for the request Go holds, sends its
    // response and then waits for its ctx.waitUntil work, telling Go when
    // all is done (OP_DONE); Go runs the jobs and timers until then.
    dispatch() {
      timers.clear();
      const s = hostFn(OP_REQUEST);
      if (typeof s !== "string") { fastCall(s); throw new RangeError("out of memory"); }
      // method, URL, origin, body length, then the header lines.
      const a = s.indexOf("\n"), b = s.indexOf("\n", a + 1), c = s.indexOf("\n", b + 1);
      let d = s.indexOf("\n", c + 1);
      if (d < 0) d = s.length;
      const href = s.slice(a + 1, b), origin = s.slice(b + 1, c);
      // Go sends the origin when the URL needs no parsing (ops.go).
      reqHref = null;
      const url = origin ? null : new URL(href);
      host.origin = origin || url.origin;
      if (origin) { reqHref = href; reqOrigin = origin; }
      const waits = [];
      let res;
      try {
        let body = null;
        if (s.slice(c + 1, d) !== "0") {
          const ab = hostFn(OP_BODY);
          if (!(ab instanceof ArrayBuffer)) { fastCall(ab); throw new RangeError("out of memory"); }
          body = new Uint8Array(ab);
        }
        incoming = { href: url ? url.href : href, method: s.slice(0, a), lines: s, at: d + 1, body };
        res = host.entry.fetch(new Request(href), host.env, new ExecutionContext(waits));
        if (res !== null && typeof res === "object" && typeof res.then === "function") {
          return Promise.resolve(res).then((r) => respond(r, waits), (e) => done(describe(e)));
        }
      } catch (e) {
        incoming = null;
        return done(describe(e));
      }
      return respond(res, waits);
    },
  };
  // Error.prepareStackTrace gets call sites whose getFunction() the
  // engine answers for every frame, the shim's and the native host
  // function's included: a tenant could call the bridge raw. The tenant's
  // function is handed sites that answer getFunction() and getThis()
  // only for the tenant's own frames, as V8 answers them only for
  // non-strict code.
  (() => {
    const desc = Object.getOwnPropertyDescriptor(Error, "prepareStackTrace");
    if (!desc || typeof desc.set !== "function") return;
    const setSlot = desc.set;
    let proto = null;
    apply(setSlot, Error, [(e, sites) => { proto = Object.getPrototypeOf(sites[0]); return ""; }]);
    void new Error("probe").stack;
    apply(setSlot, Error, [undefined]);
    if (!proto) return;
    const real = new WeakMap();
    const safe = {};
    for (const name of Object.getOwnPropertyNames(proto)) {
      const f = proto[name];
      if (typeof f !== "function" || name === "constructor") continue;
      safe[name] = function () { return apply(f, real.get(this), []); };
    }
    const hidden = (site) => apply(proto.isNative, site, []) || String(apply(proto.getFileName, site, [])).startsWith("cfhost:");
    safe.getFunction = function () { const s = real.get(this); return hidden(s) ? undefined : apply(proto.getFunction, s, []); };
    safe.getThis = function () { const s = real.get(this); return hidden(s) ? undefined : apply(proto.getThis, s, []); };
    let user;
    Object.defineProperty(Error, "prepareStackTrace", {
      configurable: true, enumerable: false,
      get() { return user; },
      set(v) {
        user = v;
        apply(setSlot, Error, [typeof v !== "function" ? v : function (e, sites) {
          return apply(v, this, [e, sites.map((s) => { const o = Object.create(safe); real.set(o, s); return o; })]);
        }]);
      },
    });
  })();
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
  define("ReadableStream", ReadableStream);
  define("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
  define("WritableStream", WritableStream);
  define("TransformStream", TransformStream);
  define("crypto", crypto);
  define("CryptoKey", CryptoKey);
  define("structuredClone", (v) => structuredClone(v));
  define("fetch", (input, init) => subrequest("fetch", input, init));
  define("setTimeout", (fn, ms, ...args) => addTimer(fn, ms, args, false));
  define("setInterval", (fn, ms, ...args) => addTimer(fn, ms, args, true));
  define("clearTimeout", (id) => { timers.delete(id); });
  define("clearInterval", (id) => { timers.delete(id); });
  define("queueMicrotask", (fn) => { if (typeof fn !== "function") throw new TypeError("queueMicrotask needs a function"); Promise.resolve().then(fn); });
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
  host.ASSETS = ASSETS;
})();
