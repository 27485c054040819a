// The about page is static HTML; the Function passes the request on to the
// assets with next() and stamps the response.
export const onRequestGet: PagesFunction = async ({ next }) => {
  const response = await next();
  response.headers.set("x-about", "served by next()");
  return response;
};
