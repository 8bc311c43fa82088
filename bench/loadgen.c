/*
 * loadgen: the bench's load generator (and its do-nothing server), one epoll thread.
 *
 * Why C: the generator must not be what limits the numbers. One thread with pipelined
 * connections, one read() per readable socket and one write() per socket per loop turn drives
 * millions of requests per second; `--mode serve` is a server that answers from prebuilt buffers
 * so the bench can measure that ceiling on the same machine.
 *
 * Every reply is checked byte for byte: INSERTED <id>, RESERVED <id> <bytes> + the exact body the
 * generator wrote (a 10-digit tag + a fixed filler), DELETED, USING/WATCHING, OK <n> + YAML.
 * Any mismatch or disconnect ends the run with a message on stderr and exit status 2.
 *
 * Modes (see bench/README.md for the scenarios built on them):
 *   put      each connection keeps --depth puts in flight until its share of --count is done
 *   resdel   (--prefill: first put --count jobs, untimed) then reserve + delete --count jobs,
 *            --depth reserves in flight per connection, each delete sent as its RESERVED arrives
 *   cycle    --depth independent put → reserve → delete loops per connection; with --depth 1 and
 *            one connection this is ping-pong; latency per cycle and per request is recorded
 *   mixed    --conns producers (put) and --consumers consumers (blocking reserve + delete)
 *   scrape   list-tubes, then stats-tube for every tube (what a beanstalkd exporter does)
 *   serve    the do-nothing server on --port (0 = ephemeral; prints "listening <port>")
 * --seconds caps the measured phase (the rate is then over what completed; exit status 4) and
 * --setup-seconds caps connecting, setup and prefill (default max(3 × --seconds, 20); exit 2).
 * --hold-tubes N opens one more connection that watches N tubes before the run and stays idle.
 * --tube-per-conn: connection i uses and watches tube b<i> (consumer i of mixed: tube b<i mod P>),
 * so a sharding proxy spreads the load.
 * Output: one JSON object on stdout.
 *
 * This file holds the options, the phases, connecting, the epoll loop and the report;
 * loadgen-conn.c one connection's requests and reply checks; loadgen-serve.c the do-nothing server;
 * loadgen.h what they share. bench/loadgen.ts compiles all three (again when any file is newer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "loadgen.h"

/* ---- options ------------------------------------------------------------------------------- */
static const char *opt_host = "127.0.0.1";
static int opt_port = 11300;
static const char *opt_mode = "put";
static int opt_conns = 1, opt_consumers = 0;
int opt_depth = 1;
static uint64_t opt_count = 10000;
static double opt_seconds = 60;
static double opt_setup_seconds = 0; /* 0: max(3 × --seconds, 20) */
size_t opt_body = 100;
static int opt_hold_tubes = 0, opt_prefill = 0, opt_tube_per_conn = 0;
int opt_check_monotonic = 0;

/* ---- state --------------------------------------------------------------------------------- */
static Conn *conns;
static int nconns;
int ep;
int phase = PH_SETUP;
static uint64_t phase_t0, run_t0, run_t1, prefill_t0, prefill_t1;
char *filler;
static double cpu_run0, cpu_run1;

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("loadgen: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void *xrealloc(void *p, size_t n) {
  void *r = realloc(p, n);
  if (!r) die("out of memory");
  return r;
}

/* ---- phases -------------------------------------------------------------------------------- */
static int all_done(void) {
  for (int i = 0; i < nconns; i++) {
    Conn *c = &conns[i];
    if (c->role == R_HOLD) continue;
    if (c->done < c->quota || c->q_len > 0) return 0;
  }
  return 1;
}

static uint64_t share(uint64_t total, int i, int n) {
  return total / (uint64_t)n + ((uint64_t)i < total % (uint64_t)n ? 1 : 0);
}


static void begin_prefill(uint64_t t) {
  phase = PH_PREFILL;
  prefill_t0 = t;
  for (int i = 0; i < nconns; i++) {
    Conn *c = &conns[i];
    c->started = c->done = 0;
    c->quota = c->role == R_RESDEL ? share(opt_count, c->idx, opt_conns) : 0;
    pump(c, t);
  }
}

static void begin_run(uint64_t t) {
  phase = PH_RUN;
  run_t0 = t;
  phase_t0 = t; /* --seconds caps the measured phase; setup and prefill have their own cap */
  cpu_run0 = cpu_seconds();
  /* markers let the orchestrator sample server CPU at the measured phase's edges */
  printf("#run\n");
  fflush(stdout);
  int producers = opt_conns;
  for (int i = 0; i < nconns; i++) {
    Conn *c = &conns[i];
    c->started = c->done = 0;
    switch (c->role) {
      case R_PUT:
        c->quota = share(opt_count, c->idx, producers);
        break;
      case R_RESDEL:
        c->quota = strcmp(opt_mode, "mixed") == 0 ? share(opt_count, c->idx - producers, opt_consumers)
                                                  : share(opt_count, c->idx, producers);
        break;
      case R_CYCLE:
        c->quota = share(opt_count, c->idx, producers);
        for (uint32_t s = 0; s < (uint32_t)opt_depth && c->started < c->quota; s++) start_cycle(c, s, t);
        break;
      case R_SCRAPE:
        c->quota = 1;
        c->started = 1;
        send_line(c, K_LIST, 0, t, "list-tubes\r\n");
        break;
      default:
        c->quota = 0;
    }
    pump(c, t);
  }
}

static void maybe_advance(uint64_t t) {
  if (phase == PH_SETUP) {
    for (int i = 0; i < nconns; i++)
      if (conns[i].setup_left > 0) return;
    if (opt_prefill) begin_prefill(t);
    else begin_run(t);
  }
  if (phase == PH_PREFILL && all_done()) {
    prefill_t1 = t;
    begin_run(t);
  }
  if (phase == PH_RUN && all_done()) {
    run_t1 = t;
    cpu_run1 = cpu_seconds();
    phase = PH_DONE;
    printf("#done\n");
    fflush(stdout);
  }
}

/* ---- connections --------------------------------------------------------------------------- */
static int connect_to(void) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
  char port[16];
  snprintf(port, sizeof port, "%d", opt_port);
  int rc = getaddrinfo(opt_host, port, &hints, &res);
  if (rc != 0) die("getaddrinfo %s: %s", opt_host, gai_strerror(rc));
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0)
    die("connect %s:%d: %s", opt_host, opt_port, strerror(errno));
  freeaddrinfo(res);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void setup_conn(Conn *c, int idx, int role) {
  memset(c, 0, sizeof *c);
  c->idx = idx;
  c->role = role;
  c->fd = connect_to();
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
  if (role == R_CYCLE) c->cycle_t0 = calloc((size_t)opt_depth, sizeof *c->cycle_t0);
  uint64_t t = now_ns();
  if (role == R_HOLD) {
    for (int i = 0; i < opt_hold_tubes; i++) send_line(c, K_WATCH, 0, t, "watch t%05d\r\n", i);
    c->setup_left = opt_hold_tubes;
    return;
  }
  if (opt_tube_per_conn && role != R_SCRAPE) {
    int producers = opt_conns;
    int tube = strcmp(opt_mode, "mixed") == 0 && idx >= producers ? (idx - producers) % producers : idx;
    snprintf(c->tube, sizeof c->tube, "b%d", tube);
    send_line(c, K_USE, 0, t, "use %s\r\n", c->tube);
    send_line(c, K_WATCH, 0, t, "watch %s\r\n", c->tube);
    send_line(c, K_IGNORE, 0, t, "ignore default\r\n");
    c->setup_left = 3;
  } else {
    strcpy(c->tube, "default");
  }
}

static void print_hist(const char *name, uint32_t *hist, uint64_t max) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < HIST_BUCKETS; i++) total += hist[i];
  if (total == 0) return;
  const double ps[] = {0.5, 0.9, 0.99, 0.999};
  const char *names[] = {"p50", "p90", "p99", "p999"};
  printf(",\"%s\":{", name);
  uint64_t acc = 0;
  int k = 0;
  double sum = 0;
  for (uint32_t i = 0; i < HIST_BUCKETS; i++) sum += (double)hist[i] * (i + 0.5) * 0.1;
  for (uint32_t i = 0; i < HIST_BUCKETS && k < 4; i++) {
    acc += hist[i];
    while (k < 4 && (double)acc >= ps[k] * (double)total) {
      printf("\"%s\":%.1f,", names[k], (i + 1) * 0.1);
      k++;
    }
  }
  printf("\"mean\":%.1f,\"max\":%.1f,\"count\":%llu}", sum / (double)total, (double)max / 1000.0,
         (unsigned long long)total);
}

/* ---- main ---------------------------------------------------------------------------------- */
static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode put|resdel|cycle|mixed|scrape|serve [--host H] [--port P] [--conns N]\n"
          "               [--consumers N] [--depth D] [--count N] [--seconds S] [--setup-seconds S]\n"
          "               [--body BYTES]\n"
          "               [--prefill] [--tube-per-conn] [--hold-tubes N] [--check-monotonic]\n");
  exit(1);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL() (v ? (i++, v) : (usage(), ""))
    if (!strcmp(a, "--host")) opt_host = VAL();
    else if (!strcmp(a, "--port")) opt_port = atoi(VAL());
    else if (!strcmp(a, "--mode")) opt_mode = VAL();
    else if (!strcmp(a, "--conns")) opt_conns = atoi(VAL());
    else if (!strcmp(a, "--consumers")) opt_consumers = atoi(VAL());
    else if (!strcmp(a, "--depth")) opt_depth = atoi(VAL());
    else if (!strcmp(a, "--count")) opt_count = strtoull(VAL(), NULL, 10);
    else if (!strcmp(a, "--seconds")) opt_seconds = atof(VAL());
    else if (!strcmp(a, "--setup-seconds")) opt_setup_seconds = atof(VAL());
    else if (!strcmp(a, "--body")) opt_body = strtoull(VAL(), NULL, 10);
    else if (!strcmp(a, "--hold-tubes")) opt_hold_tubes = atoi(VAL());
    else if (!strcmp(a, "--prefill")) opt_prefill = 1;
    else if (!strcmp(a, "--tube-per-conn")) opt_tube_per_conn = 1;
    else if (!strcmp(a, "--check-monotonic")) opt_check_monotonic = 1;
    else usage();
  }
  signal(SIGPIPE, SIG_IGN);
  filler = xrealloc(NULL, opt_body + 1);
  for (size_t i = 0; i < opt_body; i++) filler[i] = (char)('a' + i % 26);
  if (!strcmp(opt_mode, "serve")) serve(opt_host, opt_port, opt_body, filler);
  if (opt_conns < 1 || opt_depth < 1) usage();

  ep = epoll_create1(0);
  int role = R_PUT;
  int total = opt_conns;
  if (!strcmp(opt_mode, "put")) role = R_PUT;
  else if (!strcmp(opt_mode, "resdel")) role = R_RESDEL;
  else if (!strcmp(opt_mode, "cycle")) role = R_CYCLE;
  else if (!strcmp(opt_mode, "mixed")) total += opt_consumers;
  else if (!strcmp(opt_mode, "scrape")) total = opt_conns = 1, role = R_SCRAPE;
  else usage();
  if (!strcmp(opt_mode, "mixed") && opt_consumers < 1) usage();
  nconns = total + (opt_hold_tubes > 0 ? 1 : 0);
  conns = calloc((size_t)nconns, sizeof *conns);
  if (role == R_CYCLE) {
    hist_cycle = calloc(HIST_BUCKETS, sizeof *hist_cycle);
    hist_rtt = calloc(HIST_BUCKETS, sizeof *hist_rtt);
  }
  /* the holder goes first so its tubes exist before the workload connects */
  int next = 0;
  if (opt_hold_tubes > 0) setup_conn(&conns[next++], total, R_HOLD);
  for (int i = 0; i < total; i++) {
    int r = role;
    if (!strcmp(opt_mode, "mixed")) r = i < opt_conns ? R_PUT : R_RESDEL;
    setup_conn(&conns[next++], i, r);
  }
  uint64_t t0 = now_ns();
  phase_t0 = t0;
  for (int i = 0; i < nconns; i++) flush(&conns[i]);
  maybe_advance(t0);
  for (int i = 0; i < nconns; i++) flush(&conns[i]);

  struct epoll_event evs[512];
  uint64_t cap_ns = (uint64_t)(opt_seconds * 1e9);
  uint64_t setup_cap_ns = cap_ns * 3 > 20000000000ull ? cap_ns * 3 : 20000000000ull;
  if (opt_setup_seconds > 0) setup_cap_ns = (uint64_t)(opt_setup_seconds * 1e9);
  int capped = 0;
  while (phase != PH_DONE) {
    int n = epoll_wait(ep, evs, 512, 1000);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    uint64_t t = now_ns();
    for (int i = 0; i < n; i++) {
      Conn *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c, t);
    }
    maybe_advance(t);
    for (int i = 0; i < nconns; i++)
      if (conns[i].out_len > conns[i].out_off) flush(&conns[i]);
    if ((phase == PH_SETUP || phase == PH_PREFILL) && t - phase_t0 > setup_cap_ns)
      die("%s did not finish within %.0f s", phase == PH_SETUP ? "setup" : "prefill", (double)setup_cap_ns / 1e9);
    if (phase == PH_RUN && t - phase_t0 > cap_ns) {
      capped = 1;
      run_t1 = t;
      cpu_run1 = cpu_seconds();
      printf("#done\n");
      break;
    }
  }
  double secs = (double)(run_t1 - run_t0) / 1e9;
  uint64_t ops = 0;
  for (int i = 0; i < nconns; i++)
    if (conns[i].role != R_HOLD && !(strcmp(opt_mode, "mixed") == 0 && conns[i].role == R_PUT)) ops += conns[i].done;
  printf("{\"mode\":\"%s\",\"conns\":%d,\"consumers\":%d,\"depth\":%d,\"body\":%zu,\"ops\":%llu,\"seconds\":%.6f,"
         "\"rate\":%.1f,\"puts\":%llu,\"reserveDeletes\":%llu,\"capped\":%s,\"setupSeconds\":%.6f",
         opt_mode, opt_conns, opt_consumers, opt_depth, opt_body, (unsigned long long)ops, secs,
         secs > 0 ? (double)ops / secs : 0.0, (unsigned long long)puts_done, (unsigned long long)resdel_done,
         capped ? "true" : "false", (double)((opt_prefill ? prefill_t0 : run_t0) - t0) / 1e9);
  if (opt_prefill && prefill_t1 > 0)
    printf(",\"prefillSeconds\":%.6f", (double)(prefill_t1 - prefill_t0) / 1e9);
  if (!strcmp(opt_mode, "scrape")) printf(",\"tubes\":%zu,\"scrapeBytes\":%zu", scrape_ntubes, scrape_bytes);
  if (hist_cycle) {
    print_hist("cycleUs", hist_cycle, max_cycle);
    print_hist("requestUs", hist_rtt, max_rtt);
  }
  printf(",\"cpuSeconds\":%.3f}\n", phase == PH_RUN || phase == PH_DONE ? cpu_run1 - cpu_run0 : 0.0);
  return capped ? 4 : 0;
}
