/*
 * What the load generator's three files share (one program, bench/loadgen.c's header says what it does):
 *   loadgen.c        options, phases, connecting, the epoll loop and the one-line JSON report
 *   loadgen-conn.c   one connection's traffic: request builders, the pending FIFO, byte-exact reply checks
 *   loadgen-serve.c  the do-nothing server (--mode serve)
 * The request/reply hot path lives in loadgen-conn.c alone, so `cc -O2` can still inline across it.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

#define HIST_BUCKETS 1000000u

/* ---- set by loadgen.c (options and phases), read by loadgen-conn.c ---------------------------- */
extern int opt_depth;
extern size_t opt_body;
extern int opt_check_monotonic;
extern int ep;
extern int phase;
extern char *filler; /* body bytes after the 10-digit tag */

/* ---- counted by loadgen-conn.c as replies arrive, reported by loadgen.c -------------------------- */
extern uint32_t *hist_cycle, *hist_rtt; /* 0.1 µs buckets up to 100 ms; allocated by main for cycle */
extern uint64_t max_cycle, max_rtt;
extern size_t scrape_ntubes, scrape_bytes;
extern uint64_t puts_done, resdel_done;

/* ---- loadgen.c ------------------------------------------------------------------------------- */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
void *xrealloc(void *p, size_t n);

/* ---- loadgen-conn.c -------------------------------------------------------------------------- */
__attribute__((format(printf, 5, 6))) void send_line(Conn *c, int kind, uint32_t slot, uint64_t t, const char *fmt, ...);
void flush(Conn *c);
void pump(Conn *c, uint64_t t);
void start_cycle(Conn *c, uint32_t slot, uint64_t t);
void on_readable(Conn *c, uint64_t t);

/* ---- loadgen-serve.c ------------------------------------------------------------------------- */
__attribute__((noreturn)) void serve(const char *host, int port, size_t body_bytes, const char *body_filler);

/* The CR of the first CRLF in [p, end), or NULL. Replies (loadgen-conn.c) and commands (serve) alike. */
static inline const char *find_crlf(const char *p, const char *end) {
  for (const char *q = p; q + 1 < end; q++) {
    q = memchr(q, '\r', (size_t)(end - q - 1));
    if (!q) return NULL;
    if (q[1] == '\n') return q;
  }
  return NULL;
}

#endif
