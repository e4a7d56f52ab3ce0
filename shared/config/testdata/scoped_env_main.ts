// Loads a config the way a sandboxed service does; the test runs it with
// --allow-read=<the file> and --allow-env naming only PORT and DEMO_ variables.
import { ConfigError, field, loadConfig, STANDARD_SCHEMA } from "../mod.ts";

const schema = {
  ...STANDARD_SCHEMA,
  demo: field.table({
    workers: field.int({ default: 1, min: 1 }),
    timeout: field.duration({ default: "5s" }),
  }),
};

try {
  const config = await loadConfig(Deno.args[0], schema, { service: "demo" });
  console.log(JSON.stringify(config));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
