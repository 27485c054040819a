// The fixture's router: names a path the way an SPA's client-side router
// would after the host's single-page-application fallback served index.html.
export function describeRoute(pathname) {
  if (pathname === "/" || pathname === "") {
    return "home";
  }
  return pathname.replace(/^\/+/, "");
}
