/*
 * relay: a TCP relay that copies bytes and does nothing else — the floor of a proxy hop.
 *
 *   relay --upstream-port P [--upstream-host 127.0.0.1] [--host 127.0.0.1] [--port 0]
 *
 * The bench puts it in front of `beanstalkd -b` (targets relay-c, bench/targets.ts) so the cost of
 * one more process on the request path — loopback writes, wake-ups, scheduling on a shared core —
 * can be told apart from what stalkd's proxy does on top of it (bench/README.md, "proxy hop floor").
 *
 * One epoll thread. Each accepted client gets its own connection to the upstream (a blocking
 * connect: on loopback it answers at once). Each direction has one buffer: a read fills it and is
 * written out at once; what a write leaves behind (EAGAIN) stays there, waiting for EPOLLOUT on the
 * receiving socket, and the sending socket is not read again until it is gone — a slow reader
 * holds its writer back instead of growing memory. When either side closes or fails, what is
 * buffered toward the other is offered once and both are closed. Prints "listening PORT".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Larger than any one read the bench's traffic produces (a pipelined batch is < 64 KiB). */
#define DIR_BYTES (128 * 1024)

typedef struct Pair Pair;

typedef struct {
  int fd;
  Pair *pair;
  int side;        /* 0: the client, 1: the upstream */
  uint32_t events; /* what epoll watches for now */
} End;

/* Bytes read from one end and not yet written to the other: buf[off, off + len). */
typedef struct {
  char *buf;
  size_t off, len;
} Dir;

struct Pair {
  End end[2];
  Dir dir[2]; /* dir[i]: read from end[i], to be written to end[1 - i] */
  int dead;
  Pair *next_dead;
};

static const char *opt_host = "127.0.0.1", *opt_upstream_host = "127.0.0.1";
static int opt_port = 0, opt_upstream_port = 0;
static int ep;
static Pair *dead_pairs; /* closed during this batch of events, freed after it */
static struct addrinfo *upstream;

static void die(const char *what) {
  fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void set_socket_options(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Writes what dir[i] holds to the other end; -1 on a write error. */
static int flush_dir(Pair *p, int i) {
  Dir *d = &p->dir[i];
  while (d->len > 0) {
    ssize_t w = write(p->end[1 - i].fd, d->buf + d->off, d->len);
    if (w > 0) {
      d->off += (size_t)w;
      d->len -= (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return 0;
    } else {
      return -1;
    }
  }
  d->off = 0;
  return 0;
}

/* Read an end only while its buffer is empty; wait to write to it while the other's is not. */
static void watch(Pair *p, int j) {
  End *e = &p->end[j];
  uint32_t want = (p->dir[j].len == 0 ? EPOLLIN : 0) | (p->dir[1 - j].len > 0 ? EPOLLOUT : 0);
  if (want == e->events) return;
  struct epoll_event ev = {.events = want, .data.ptr = e};
  epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ev);
  e->events = want;
}

static void close_pair(Pair *p) {
  if (p->dead) return;
  for (int i = 0; i < 2; i++) flush_dir(p, i); /* best effort: the sockets are closing */
  for (int i = 0; i < 2; i++) close(p->end[i].fd);
  p->dead = 1;
  p->next_dead = dead_pairs;
  dead_pairs = p;
}

static void on_event(End *e, uint32_t events) {
  Pair *p = e->pair;
  int j = e->side;
  if (p->dead) return;
  if ((events & EPOLLOUT) && flush_dir(p, 1 - j) < 0) return close_pair(p);
  /* A hung-up end whose input cannot be taken (its buffer still waits) would be reported forever. */
  if ((events & (EPOLLHUP | EPOLLERR)) && p->dir[j].len > 0) return close_pair(p);
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && p->dir[j].len == 0) {
    ssize_t r = read(e->fd, p->dir[j].buf, DIR_BYTES);
    if (r == 0) return close_pair(p);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return close_pair(p);
    if (r > 0) {
      p->dir[j].off = 0;
      p->dir[j].len = (size_t)r;
      if (flush_dir(p, j) < 0) return close_pair(p);
    }
  }
  watch(p, 0);
  watch(p, 1);
}

static int connect_upstream(void) {
  int fd = socket(upstream->ai_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, upstream->ai_addr, upstream->ai_addrlen) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void on_accept(int lfd) {
  for (;;) {
    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (cfd < 0) return; /* EAGAIN: all taken; anything else: the client is gone */
    int ufd = connect_upstream();
    if (ufd < 0) {
      fprintf(stderr, "relay: connect to upstream %s:%d: %s\n", opt_upstream_host, opt_upstream_port,
              strerror(errno));
      close(cfd);
      continue;
    }
    Pair *p = calloc(1, sizeof *p);
    if (!p) die("calloc");
    int fds[2] = {cfd, ufd};
    for (int i = 0; i < 2; i++) {
      set_socket_options(fds[i]);
      p->dir[i].buf = malloc(DIR_BYTES);
      if (!p->dir[i].buf) die("malloc");
      p->end[i] = (End){.fd = fds[i], .pair = p, .side = i, .events = EPOLLIN};
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->end[i]};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) die("epoll_ctl");
    }
  }
}

static void usage(void) {
  fprintf(stderr, "usage: relay --upstream-port P [--upstream-host H] [--host H] [--port P]\n");
  exit(1);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--host")) opt_host = v;
    else if (!strcmp(a, "--port")) opt_port = atoi(v);
    else if (!strcmp(a, "--upstream-host")) opt_upstream_host = v;
    else if (!strcmp(a, "--upstream-port")) opt_upstream_port = atoi(v);
    else usage();
  }
  if (opt_upstream_port <= 0) usage();
  signal(SIGPIPE, SIG_IGN);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  char port[16];
  snprintf(port, sizeof port, "%d", opt_upstream_port);
  int rc = getaddrinfo(opt_upstream_host, port, &hints, &upstream);
  if (rc != 0) {
    fprintf(stderr, "relay: getaddrinfo %s: %s\n", opt_upstream_host, gai_strerror(rc));
    return 2;
  }

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
  if (inet_pton(AF_INET, opt_host, &a.sin_addr) != 1) usage();
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1024) != 0) die("bind");
  socklen_t alen = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) die("epoll");
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);

  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) on_accept(lfd);
      else on_event(evs[i].data.ptr, evs[i].events);
    }
    while (dead_pairs) {
      Pair *p = dead_pairs;
      dead_pairs = p->next_dead;
      free(p->dir[0].buf);
      free(p->dir[1].buf);
      free(p);
    }
  }
}
