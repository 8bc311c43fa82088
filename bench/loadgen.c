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
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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
#include <unistd.h>

enum { K_PUT, K_RESERVE, K_DELETE, K_USE, K_WATCH, K_IGNORE, K_LIST, K_STATS_TUBE };
enum { R_PUT, R_RESDEL, R_CYCLE, R_SCRAPE, R_HOLD };
enum { PH_SETUP, PH_PREFILL, PH_RUN, PH_DONE };

typedef struct {
  uint8_t kind;
  uint32_t slot;    /* cycle: which loop; stats-tube: tube index */
  uint64_t sent_ns; /* when the request was queued */
} Pending;

typedef struct {
  int fd;
  int idx;
  int role;
  char *out;
  size_t out_len, out_off, out_cap;
  char *in;
  size_t in_len, in_cap;
  Pending *q;
  size_t q_head, q_len, q_cap;
  uint64_t quota;     /* operations this connection completes in the current phase */
  uint64_t started;   /* operations begun */
  uint64_t done;      /* operations completed */
  uint64_t last_id;   /* --check-monotonic */
  uint64_t *cycle_t0; /* cycle: start time of each loop */
  int epollout;
  char tube[32];
  int setup_left; /* replies still expected in PH_SETUP */
} Conn;

/* ---- options ------------------------------------------------------------------------------- */
static const char *opt_host = "127.0.0.1";
static int opt_port = 11300;
static const char *opt_mode = "put";
static int opt_conns = 1, opt_consumers = 0, opt_depth = 1;
static uint64_t opt_count = 10000;
static double opt_seconds = 60;
static double opt_setup_seconds = 0; /* 0: max(3 × --seconds, 20) */
static size_t opt_body = 100;
static int opt_hold_tubes = 0, opt_prefill = 0, opt_tube_per_conn = 0, opt_check_monotonic = 0;

/* ---- state --------------------------------------------------------------------------------- */
static Conn *conns;
static int nconns;
static int ep;
static int phase = PH_SETUP;
static uint64_t phase_t0, run_t0, run_t1, prefill_t0, prefill_t1;
static char *filler;        /* body bytes after the 10-digit tag */
static uint64_t tag_seq;    /* next body tag */
static uint32_t *hist_cycle, *hist_rtt; /* 0.1 µs buckets up to 100 ms */
static uint64_t max_cycle, max_rtt;
#define HIST_BUCKETS 1000000u
static char **scrape_tubes;
static size_t scrape_ntubes, scrape_bytes;
static uint64_t puts_done, resdel_done;
static double cpu_run0, cpu_run1;

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, ...) {
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

static void *xrealloc(void *p, size_t n) {
  void *r = realloc(p, n);
  if (!r) die("out of memory");
  return r;
}

/* A reply line for error messages: printable, cut at CRLF or 80 bytes. */
static const char *show(const char *p, size_t n) {
  static char buf[100];
  size_t j = 0;
  for (size_t i = 0; i < n && j < 80; i++) {
    if (p[i] == '\r') break;
    buf[j++] = (p[i] >= 32 && p[i] < 127) ? p[i] : '?';
  }
  buf[j] = 0;
  return buf;
}

/* ---- output -------------------------------------------------------------------------------- */
static void out_reserve(Conn *c, size_t n) {
  if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + n <= c->out_cap) return;
  if (c->out_off > 0) {
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
  }
  while (c->out_len + n > c->out_cap) c->out_cap = c->out_cap ? c->out_cap * 2 : 65536;
  c->out = xrealloc(c->out, c->out_cap);
}

static void out_bytes(Conn *c, const char *s, size_t n) {
  out_reserve(c, n);
  memcpy(c->out + c->out_len, s, n);
  c->out_len += n;
}

static void push_pending(Conn *c, int kind, uint32_t slot, uint64_t t) {
  if (c->q_len == c->q_cap) {
    size_t cap = c->q_cap ? c->q_cap * 2 : 64;
    Pending *q = xrealloc(NULL, cap * sizeof *q);
    for (size_t i = 0; i < c->q_len; i++) q[i] = c->q[(c->q_head + i) % c->q_cap];
    free(c->q);
    c->q = q;
    c->q_head = 0;
    c->q_cap = cap;
  }
  Pending *p = &c->q[(c->q_head + c->q_len) % c->q_cap];
  p->kind = (uint8_t)kind;
  p->slot = slot;
  p->sent_ns = t;
  c->q_len++;
}

static Pending pop_pending(Conn *c) {
  Pending p = c->q[c->q_head];
  c->q_head = (c->q_head + 1) % c->q_cap;
  c->q_len--;
  return p;
}

static void send_put(Conn *c, uint32_t slot, uint64_t t) {
  char head[64];
  int n = snprintf(head, sizeof head, "put 0 0 120 %zu\r\n", opt_body);
  out_reserve(c, (size_t)n + opt_body + 2);
  memcpy(c->out + c->out_len, head, (size_t)n);
  c->out_len += (size_t)n;
  char tag[11];
  snprintf(tag, sizeof tag, "%010llu", (unsigned long long)(tag_seq++ % 10000000000ull));
  size_t tagn = opt_body < 10 ? opt_body : 10;
  memcpy(c->out + c->out_len, opt_body < 10 ? filler : tag, tagn);
  if (opt_body > 10) memcpy(c->out + c->out_len + 10, filler, opt_body - 10);
  c->out_len += opt_body;
  c->out[c->out_len++] = '\r';
  c->out[c->out_len++] = '\n';
  push_pending(c, K_PUT, slot, t);
}

static void send_line(Conn *c, int kind, uint32_t slot, uint64_t t, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  out_bytes(c, line, (size_t)n);
  push_pending(c, kind, slot, t);
}

static void flush(Conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w > 0) {
      c->out_off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->epollout) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->epollout = 1;
      }
      return;
    }
    die("conn %d: write: %s", c->idx, strerror(errno));
  }
  c->out_off = c->out_len = 0;
  if (c->epollout) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->epollout = 0;
  }
}

/* ---- workload ------------------------------------------------------------------------------ */
static void record(uint32_t *hist, uint64_t *max, uint64_t ns) {
  uint64_t b = ns / 100;
  if (b >= HIST_BUCKETS) b = HIST_BUCKETS - 1;
  hist[b]++;
  if (ns > *max) *max = ns;
}

/*
 * Fills the connection's pipeline for the current phase. Refills wait until half the pipeline has
 * been answered, so requests go out in batches (one write for many) as a pipelining client does,
 * instead of one write per reply when the server answers one reply per write.
 */
static void pump(Conn *c, uint64_t t) {
  if (opt_depth >= 4 && c->q_len > (size_t)opt_depth / 2) return;
  if (phase == PH_PREFILL) {
    while (c->q_len < (size_t)opt_depth && c->started < c->quota) {
      send_put(c, 0, t);
      c->started++;
    }
    return;
  }
  if (phase != PH_RUN) return;
  switch (c->role) {
    case R_PUT:
      while (c->q_len < (size_t)opt_depth && c->started < c->quota) {
        send_put(c, 0, t);
        c->started++;
      }
      break;
    case R_RESDEL:
      /* deletes are sent as reservations arrive; reserves keep the pipe --depth deep */
      while (c->q_len < (size_t)opt_depth && c->started < c->quota) {
        send_line(c, K_RESERVE, 0, t, "reserve\r\n");
        c->started++;
      }
      break;
    default:
      break;
  }
}

static void start_cycle(Conn *c, uint32_t slot, uint64_t t) {
  c->cycle_t0[slot] = t;
  c->started++;
  send_put(c, slot, t);
}

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

static void begin_run(uint64_t t);

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

/* ---- reply parsing ------------------------------------------------------------------------- */
/* Parses decimal digits at p (at least one) up to a delimiter; returns the end or NULL. */
static const char *digits(const char *p, const char *end, uint64_t *v) {
  const char *s = p;
  uint64_t x = 0;
  while (p < end && *p >= '0' && *p <= '9') x = x * 10 + (uint64_t)(*p++ - '0');
  if (p == s || p - s > 20) return NULL;
  *v = x;
  return p;
}

static const char *find_crlf(const char *p, const char *end) {
  for (const char *q = p; q + 1 < end; q++) {
    q = memchr(q, '\r', (size_t)(end - q - 1));
    if (!q) return NULL;
    if (q[1] == '\n') return q;
  }
  return NULL;
}

static int starts(const char *p, const char *end, const char *word) {
  size_t n = strlen(word);
  return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

static void check_body(Conn *c, const char *b, size_t n) {
  if (n != opt_body) die("conn %d: body of %zu bytes, expected %zu", c->idx, n, opt_body);
  size_t tagn = n < 10 ? 0 : 10;
  for (size_t i = 0; i < tagn; i++)
    if (b[i] < '0' || b[i] > '9') die("conn %d: body tag corrupt: %s", c->idx, show(b, n));
  if (n > 10 && memcmp(b + 10, filler, n - 10) != 0) die("conn %d: body corrupt", c->idx);
  if (n < 10 && memcmp(b, filler, n) != 0) die("conn %d: body corrupt", c->idx);
}

static void parse_list(Conn *c, const char *y, size_t n, uint64_t t) {
  /* ---\n- name\n- name\n... */
  if (n < 4 || memcmp(y, "---\n", 4) != 0) die("conn %d: list-tubes YAML: %s", c->idx, show(y, n));
  const char *p = y + 4, *end = y + n;
  while (p < end) {
    if (end - p < 3 || p[0] != '-' || p[1] != ' ') die("conn %d: list-tubes entry: %s", c->idx, show(p, end - p));
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) die("conn %d: list-tubes: no newline", c->idx);
    scrape_tubes = xrealloc(scrape_tubes, (scrape_ntubes + 1) * sizeof *scrape_tubes);
    scrape_tubes[scrape_ntubes++] = strndup(p + 2, (size_t)(nl - p - 2));
    p = nl + 1;
  }
  c->quota = scrape_ntubes + 1;
  for (size_t i = 0; i < scrape_ntubes; i++)
    send_line(c, K_STATS_TUBE, (uint32_t)i, t, "stats-tube %s\r\n", scrape_tubes[i]);
}

/* Consumes one complete reply at c->in+off; returns its length, or 0 when incomplete. */
static size_t parse_reply(Conn *c, const char *p, const char *end, uint64_t t) {
  const char *cr = find_crlf(p, end);
  if (!cr) {
    if (end - p > 4096) die("conn %d: reply line too long: %s", c->idx, show(p, end - p));
    return 0;
  }
  size_t linelen = (size_t)(cr + 2 - p);
  if (c->q_len == 0) die("conn %d: unexpected reply: %s", c->idx, show(p, linelen));
  Pending *pend = &c->q[c->q_head];
  uint64_t v = 0, bytes = 0;
  const char *q;
  switch (pend->kind) {
    case K_PUT:
      if (!starts(p, cr, "INSERTED ") || !(q = digits(p + 9, cr, &v)) || q != cr || v == 0)
        die("conn %d: put: expected INSERTED <id>, got: %s", c->idx, show(p, linelen));
      if (opt_check_monotonic) {
        if (v <= c->last_id) die("conn %d: id %llu after %llu", c->idx, (unsigned long long)v, (unsigned long long)c->last_id);
        c->last_id = v;
      }
      break;
    case K_RESERVE:
      if (!starts(p, cr, "RESERVED ") || !(q = digits(p + 9, cr, &v)) || *q != ' ' || !(q = digits(q + 1, cr, &bytes)) ||
          q != cr)
        die("conn %d: reserve: expected RESERVED <id> <bytes>, got: %s", c->idx, show(p, linelen));
      if ((size_t)(end - (cr + 2)) < bytes + 2) return 0;
      check_body(c, cr + 2, bytes);
      if (cr[2 + bytes] != '\r' || cr[3 + bytes] != '\n') die("conn %d: body not followed by CRLF", c->idx);
      linelen += bytes + 2;
      break;
    case K_DELETE:
      if (linelen != 9 || memcmp(p, "DELETED\r\n", 9) != 0)
        die("conn %d: delete: expected DELETED, got: %s", c->idx, show(p, linelen));
      break;
    case K_USE:
      if (!starts(p, cr, "USING ") || (size_t)(cr - p - 6) != strlen(c->tube) || memcmp(p + 6, c->tube, strlen(c->tube)) != 0)
        die("conn %d: use: expected USING %s, got: %s", c->idx, c->tube, show(p, linelen));
      break;
    case K_WATCH:
    case K_IGNORE:
      if (!starts(p, cr, "WATCHING ") || !(q = digits(p + 9, cr, &v)) || q != cr)
        die("conn %d: watch/ignore: expected WATCHING <n>, got: %s", c->idx, show(p, linelen));
      break;
    case K_LIST:
    case K_STATS_TUBE:
      if (!starts(p, cr, "OK ") || !(q = digits(p + 3, cr, &bytes)) || q != cr)
        die("conn %d: expected OK <bytes>, got: %s", c->idx, show(p, linelen));
      if ((size_t)(end - (cr + 2)) < bytes + 2) return 0;
      if (cr[2 + bytes] != '\r' || cr[3 + bytes] != '\n') die("conn %d: YAML not followed by CRLF", c->idx);
      scrape_bytes += bytes + 2 + linelen;
      if (pend->kind == K_STATS_TUBE) {
        const char *name = scrape_tubes[pend->slot];
        size_t nl = strlen(name);
        /* 1.12 prints the name bare, 1.13 (and stalkd) in double quotes */
        const char *y = cr + 2;
        int quoted = bytes > 10 && y[10] == '"';
        if (bytes < 10 + nl + 2 * (size_t)quoted || memcmp(y, "---\nname: ", 10) != 0 ||
            memcmp(y + 10 + quoted, name, nl) != 0 || (quoted && y[11 + nl] != '"') || y[10 + nl + 2 * quoted] != '\n')
          die("conn %d: stats-tube %s: unexpected YAML: %s", c->idx, name, show(cr + 2, bytes));
      }
      linelen += bytes + 2;
      break;
  }
  Pending done = pop_pending(c);
  if (hist_rtt && phase == PH_RUN) record(hist_rtt, &max_rtt, t - done.sent_ns);
  if (phase == PH_SETUP) {
    c->setup_left--;
    return linelen;
  }
  /* what the reply leads to */
  switch (done.kind) {
    case K_PUT:
      if (c->role == R_CYCLE && phase == PH_RUN) send_line(c, K_RESERVE, done.slot, t, "reserve\r\n");
      else {
        c->done++;
        puts_done++;
      }
      break;
    case K_RESERVE:
      send_line(c, K_DELETE, done.slot, t, "delete %llu\r\n", (unsigned long long)v);
      break;
    case K_DELETE:
      c->done++;
      resdel_done++;
      if (c->role == R_CYCLE) {
        record(hist_cycle, &max_cycle, t - c->cycle_t0[done.slot]);
        if (c->started < c->quota) start_cycle(c, done.slot, t);
      }
      break;
    case K_LIST:
      parse_list(c, cr + 2, bytes, t);
      c->done++;
      break;
    case K_STATS_TUBE:
      c->done++;
      break;
  }
  return linelen;
}

static void on_readable(Conn *c, uint64_t t) {
  for (;;) {
    if (c->in_cap - c->in_len < 65536) {
      c->in_cap = c->in_cap ? c->in_cap * 2 : 262144;
      c->in = xrealloc(c->in, c->in_cap);
    }
    ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (r == 0) die("conn %d: server closed the connection (phase %d)", c->idx, phase);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      die("conn %d: read: %s", c->idx, strerror(errno));
    }
    c->in_len += (size_t)r;
    if ((size_t)r < c->in_cap - c->in_len + (size_t)r) break; /* short read: drained */
  }
  size_t off = 0;
  for (;;) {
    size_t n = parse_reply(c, c->in + off, c->in + c->in_len, t);
    if (n == 0) break;
    off += n;
  }
  if (off > 0) {
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
  pump(c, t);
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

/* ---- the do-nothing server ------------------------------------------------------------------ */
typedef struct {
  int fd;
  char *in;
  size_t in_len, in_cap;
  size_t skip; /* body bytes still to discard */
  char *out;
  size_t out_len, out_cap;
} SConn;

static void sout(SConn *s, const char *p, size_t n) {
  if (s->out_len + n > s->out_cap) {
    while (s->out_len + n > s->out_cap) s->out_cap = s->out_cap ? s->out_cap * 2 : 65536;
    s->out = xrealloc(s->out, s->out_cap);
  }
  memcpy(s->out + s->out_len, p, n);
  s->out_len += n;
}

static void serve(void) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
  inet_pton(AF_INET, opt_host, &a.sin_addr);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1024) != 0) die("bind: %s", strerror(errno));
  socklen_t alen = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);
  /* prebuilt replies */
  static const char inserted[] = "INSERTED 1\r\n", deleted[] = "DELETED\r\n", watching[] = "WATCHING 1\r\n";
  char *reserved = NULL;
  size_t reserved_len = 0;
  {
    char head[64];
    int n = snprintf(head, sizeof head, "RESERVED 1 %zu\r\n", opt_body);
    reserved_len = (size_t)n + opt_body + 2;
    reserved = xrealloc(NULL, reserved_len);
    memcpy(reserved, head, (size_t)n);
    if (opt_body >= 10) {
      memset(reserved + n, '0', 10);
      memcpy(reserved + n + 10, filler, opt_body - 10);
    } else
      memcpy(reserved + n, filler, opt_body);
    memcpy(reserved + reserved_len - 2, "\r\n", 2);
  }
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      SConn *s = evs[i].data.ptr;
      if (!s) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        s = calloc(1, sizeof *s);
        s->fd = fd;
        s->in_cap = 262144;
        s->in = xrealloc(NULL, s->in_cap);
        struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
        continue;
      }
      ssize_t r = read(s->fd, s->in + s->in_len, s->in_cap - s->in_len);
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        close(s->fd);
        free(s->in);
        free(s->out);
        free(s);
        continue;
      }
      s->in_len += (size_t)r;
      size_t off = 0;
      for (;;) {
        if (s->skip > 0) {
          size_t take = s->in_len - off < s->skip ? s->in_len - off : s->skip;
          off += take;
          s->skip -= take;
          if (s->skip > 0) break;
        }
        const char *cr = find_crlf(s->in + off, s->in + s->in_len);
        if (!cr) break;
        const char *p = s->in + off;
        if (p[0] == 'p') { /* put <pri> <delay> <ttr> <bytes> */
          const char *sp = cr;
          while (sp > p && sp[-1] != ' ') sp--;
          s->skip = (size_t)strtoull(sp, NULL, 10) + 2;
          sout(s, inserted, sizeof inserted - 1);
        } else if (p[0] == 'r')
          sout(s, reserved, reserved_len);
        else if (p[0] == 'd')
          sout(s, deleted, sizeof deleted - 1);
        else if (p[0] == 'u') {
          sout(s, "USING ", 6);
          sout(s, p + 4, (size_t)(cr + 2 - p - 4));
        } else if (p[0] == 'w' || p[0] == 'i')
          sout(s, watching, sizeof watching - 1);
        else
          sout(s, "UNKNOWN_COMMAND\r\n", 17);
        off = (size_t)(cr + 2 - s->in);
      }
      memmove(s->in, s->in + off, s->in_len - off);
      s->in_len -= off;
      size_t w = 0;
      while (w < s->out_len) { /* blocking enough for a bench: spin on EAGAIN */
        ssize_t k = write(s->fd, s->out + w, s->out_len - w);
        if (k > 0) w += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EINTR) break;
      }
      s->out_len = 0;
    }
  }
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
  if (!strcmp(opt_mode, "serve")) serve();
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
