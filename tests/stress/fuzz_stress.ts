// Bad input, the long run: the properties of tests/fuzz_test.ts with many
// more cases each (FUZZ_RUNS to change it, FUZZ_SEED to replay a failure).
import { registerFuzz, tried } from "./_fuzz.ts";

const runs = Number(Deno.env.get("FUZZ_RUNS") ?? 400);
const seed = Deno.env.get("FUZZ_SEED");
registerFuzz(runs, seed === undefined ? undefined : Number(seed));

Deno.test("fuzz: cases tried per backend", () => {
  console.log(`fuzz cases tried: ${JSON.stringify(tried)}`);
});
