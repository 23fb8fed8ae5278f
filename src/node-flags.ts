/**
 * Flags every launch of the server passes to node itself: `npm start` (package.json), the
 * Docker image's ENTRYPOINT and the bench's mirror (node-flags.test.ts keeps the first two
 * equal to this list). V8 reads them when the heap is set up, so they cannot be set from
 * inside the process (v8.setFlagsFromString is too late for heap sizes).
 *
 * --max-semi-space-size=1: the young generation stops at 2 × 1 MiB instead of growing to
 * 2 × 8 MiB. Measured on the 2-core bench machine: peak RSS −8..−15 MiB under a cold
 * 200 MiB fill and under manifest load (wrk, 32 connections), idle −2 MiB, CPU per cached
 * manifest GET unchanged (22.8–27.0 µs before, 23.2–26.4 µs after). Most young objects here
 * (request state, stream chunks' wrappers) die within a request, so a small nursery costs
 * little; what it saves is RSS the nursery would keep for ever once grown.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
