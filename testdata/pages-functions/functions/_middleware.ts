// Runs first for every request that reaches Functions: starts the trail of
// middleware passed (handlers report it) and stamps the response.
export const onRequest: PagesFunction = async (context) => {
  context.data.trail = ["root"];
  const response = await context.next();
  response.headers.set("x-powered-by", "acme-functions");
  return response;
};
