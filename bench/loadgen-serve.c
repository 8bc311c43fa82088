/*
 * loadgen-serve.c: `loadgen --mode serve`, the do-nothing server. It answers every command from
 * prebuilt buffers (INSERTED 1, RESERVED 1 + a body shaped as the generator's, DELETED, USING,
 * WATCHING 1) and holds no jobs or tubes, so the generator driving it measures its own ceiling on
 * this machine. Nothing here is checked: the generator checks the replies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadgen.h"

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

void serve(const char *host, int port, size_t body_bytes, const char *body_filler) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
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
    int n = snprintf(head, sizeof head, "RESERVED 1 %zu\r\n", body_bytes);
    reserved_len = (size_t)n + body_bytes + 2;
    reserved = xrealloc(NULL, reserved_len);
    memcpy(reserved, head, (size_t)n);
    if (body_bytes >= 10) {
      memset(reserved + n, '0', 10);
      memcpy(reserved + n + 10, body_filler, body_bytes - 10);
    } else
      memcpy(reserved + n, body_filler, body_bytes);
    memcpy(reserved + reserved_len - 2, "\r\n", 2);
  }
  int epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(epfd, evs, 256, -1);
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
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e2);
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
