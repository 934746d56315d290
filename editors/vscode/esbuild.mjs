// Bundles the extension into dist/extension.js (vscode external); `--tests` bundles test/*.test.ts
// into out-test/ for `node --test`; `--production` minifies; `--watch` rebuilds on change.
import { readdirSync } from "node:fs";
import * as esbuild from "esbuild";

const production = process.argv.includes("--production");
const watch = process.argv.includes("--watch");
const tests = process.argv.includes("--tests");

const common = { bundle: true, platform: "node", target: "node20", format: "cjs", logLevel: "warning" };

const options = tests
  ? {
      ...common,
      entryPoints: readdirSync("test")
        .filter((f) => f.endsWith(".test.ts"))
        .map((f) => `test/${f}`),
      outdir: "out-test",
      external: ["vscode"],
      sourcemap: "inline",
    }
  : {
      ...common,
      entryPoints: ["src/extension.ts"],
      outfile: "dist/extension.js",
      external: ["vscode"],
      minify: production,
      sourcemap: !production,
      sourcesContent: false,
    };

if (watch) {
  await (await esbuild.context(options)).watch();
} else {
  await esbuild.build(options);
}
