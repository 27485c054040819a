// Advanced mode: this Worker answers every request of the Pages project.
// It serves /api itself and hands everything else to the static assets.
const started = "module-scope";

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/api/region") {
      return Response.json({ region: env.REGION, started });
    }
    if (url.pathname.startsWith("/api/")) {
      return Response.json({ error: "no such endpoint" }, { status: 404 });
    }
    if (url.pathname === "/old-home") {
      return Response.redirect(new URL("/", url), 301);
    }
    const response = await env.ASSETS.fetch(request);
    const stamped = new Response(response.body, response);
    stamped.headers.set("x-worker", "advanced");
    return stamped;
  },
};
