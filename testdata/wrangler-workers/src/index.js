// The Worker: answers /api/* and leaves the rest to the static assets.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/api/greeting") {
      return Response.json({ greeting: env.GREETING });
    }
    return env.ASSETS.fetch(request);
  },
};
