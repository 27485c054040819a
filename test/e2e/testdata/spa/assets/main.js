// Entry module of the SPA fixture: it imports a second module (so the
// browser must load an ES module graph), renders the current route, and
// records what the test checks in the DOM.
import { describeRoute } from "./router.js";

const app = document.getElementById("app");
const route = describeRoute(location.pathname);
app.innerHTML = "";
const h1 = document.createElement("h1");
h1.id = "title";
h1.textContent = "cfhost single-page app";
const p = document.createElement("p");
p.id = "route";
p.textContent = "route: " + route;
app.append(h1, p);

document.body.dataset.rendered = "yes";
document.body.dataset.route = route;
// The stylesheet applied only if it was served as text/css.
document.body.dataset.css = getComputedStyle(h1).color;
