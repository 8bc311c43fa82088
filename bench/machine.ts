/** What the bench reads from the OS: process CPU and RSS from /proc, and the machine it ran on. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { BEANSTALKD_PATH } from './targets';

/** Kernel clock ticks per second for /proc/PID/stat (USER_HZ; 100 on every Linux we run on). */
const CLOCK_TICKS_PER_SEC =
  Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** User + system CPU seconds of one process so far; 0 when it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

/** User and system CPU seconds of one process (or one thread: /proc/PID/task/TID) so far. */
export function cpuTimes(statPath: string): { user: number; system: number } {
  try {
    const stat = readFileSync(statPath, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      user: Number(fields[11]) / CLOCK_TICKS_PER_SEC,
      system: Number(fields[12]) / CLOCK_TICKS_PER_SEC,
    };
  } catch {
    return { user: 0, system: 0 };
  }
}

export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
}

/** Resident set size in bytes (VmRSS), 0 when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function totalRssBytes(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  beanstalkd: string;
  /** File system of the binlog directories (fsync cost depends on it). */
  tmpFs: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

export function describeMachine(tmpDir: string): MachineInfo {
  const cpus = os.cpus();
  let osName = os.type();
  try {
    osName = /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {}
  const bs = BEANSTALKD_PATH
    ? spawnSync(BEANSTALKD_PATH, ['-v'], { encoding: 'utf8' }).stdout.trim()
    : 'absent';
  const df = spawnSync('df', ['-T', tmpDir], { encoding: 'utf8' }).stdout?.split('\n')[1]?.split(/\s+/)[1];
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: osName,
    node: process.version,
    beanstalkd: bs,
    tmpFs: df ?? 'unknown',
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
