/**
 * Preloaded into a process the bench measures (`node -r dist/bench/exit-cpu.js …`): at exit it
 * writes its own CPU time to stderr as `exit-cpu-us <user+system µs>`, which /proc no longer shows
 * once the process is gone.
 */
process.on('exit', () => {
  const { user, system } = process.cpuUsage();
  process.stderr.write(`exit-cpu-us ${user + system}\n`);
});
