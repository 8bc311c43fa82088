/*
 * loadgen-conn.c: one generator connection's traffic — requests queued into its output buffer, each
 * remembered in a FIFO of pending replies, and every reply checked byte for byte against the request
 * it answers before it leads to the next one (bench/loadgen.c says what each mode sends).
 *
 * The hot path (read, check, send, pump) stays in this one file so `cc -O2` inlines across it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loadgen.h"

uint32_t *hist_cycle, *hist_rtt;
uint64_t max_cycle, max_rtt;
size_t scrape_ntubes, scrape_bytes;
uint64_t puts_done, resdel_done;
static char **scrape_tubes;
static uint64_t tag_seq; /* next body tag */

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

void send_line(Conn *c, int kind, uint32_t slot, uint64_t t, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  out_bytes(c, line, (size_t)n);
  push_pending(c, kind, slot, t);
}

void flush(Conn *c) {
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
void pump(Conn *c, uint64_t t) {
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

void start_cycle(Conn *c, uint32_t slot, uint64_t t) {
  c->cycle_t0[slot] = t;
  c->started++;
  send_put(c, slot, t);
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

void on_readable(Conn *c, uint64_t t) {
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
