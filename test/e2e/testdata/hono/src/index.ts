import { Hono } from "hono";

type Bindings = {
  ASSETS: { fetch: (request: Request) => Promise<Response> };
  GREETING: string;
};

const app = new Hono<{ Bindings: Bindings }>();

// A header middleware: every API answer says who made it.
app.use("/api/*", async (c, next) => {
  await next();
  c.header("X-Powered-By", "hono-on-cfhost");
});

app.get("/api/hello", (c) => c.json({ message: `${c.env.GREETING}, Hono!` }));

app.get("/api/users/:id", (c) =>
  c.json({ id: c.req.param("id"), sort: c.req.query("sort") ?? null }),
);

app.post("/api/echo", async (c) => {
  const body = await c.req.json<{ name: string }>();
  console.log("echo for", body.name);
  return c.json({ received: body, length: JSON.stringify(body).length }, 201);
});

app.get("/api/fail", () => {
  throw new Error("hono handler failed on purpose");
});

app.onError((err, c) => {
  console.error("onError:", err.message);
  return c.json({ error: err.message }, 500);
});

// Everything else is the site's static files.
app.all("*", (c) => c.env.ASSETS.fetch(c.req.raw));

export default app;
