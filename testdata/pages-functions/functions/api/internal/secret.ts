// _routes.json excludes /api/internal/*, so this never runs on the site:
// requests there go straight to the static assets.
export const onRequest = () => new Response("internal secret");
