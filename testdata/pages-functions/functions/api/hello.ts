import { json } from "../lib/respond";

interface Env {
  GREETING: string;
}

export const onRequestGet: PagesFunction<Env> = ({ env, data }) =>
  json({ greeting: env.GREETING, trail: data.trail });

export const onRequestPost: PagesFunction<Env> = async ({ request }) => {
  const body = (await request.json()) as { name?: string };
  return json({ greeting: `hello, ${body.name ?? "stranger"}` }, 201);
};
