/* HEAD load generator for bench/registry: wrk 4.1 waits for a body after a HEAD response that
 * carries Content-Length (as registries send), so HEAD is measured with this instead.
 * Usage: headload HOST PORT PATH CONNECTIONS SECONDS THREADS -> prints "rps p99_ms errors".
 * Keep-alive connections, one request in flight per connection (like wrk). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *path;
static int port, conns, secs;
static char req[4096];
static size_t reqlen;

struct conn { int fd; double sent; size_t got; char buf[8192]; };
struct result { long n; long errors; double *lat; long cap; };

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { close(fd); return -1; }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void *worker(void *arg) {
  struct result *r = arg;
  int n = conns, ep = epoll_create1(0);
  struct conn *cs = calloc(n, sizeof *cs);
  double end = now() + secs;
  for (int i = 0; i < n; i++) {
    cs[i].fd = dial();
    if (cs[i].fd < 0) { r->errors++; continue; }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] };
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    cs[i].sent = now();
    if (write(cs[i].fd, req, reqlen) != (ssize_t)reqlen) r->errors++;
  }
  struct epoll_event evs[64];
  while (now() < end) {
    int k = epoll_wait(ep, evs, 64, 100);
    for (int i = 0; i < k; i++) {
      struct conn *c = evs[i].data.ptr;
      ssize_t m = read(c->fd, c->buf + c->got, sizeof c->buf - c->got - 1);
      if (m <= 0) { r->errors++; epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); continue; }
      c->got += m; c->buf[c->got] = 0;
      char *e = strstr(c->buf, "\r\n\r\n");
      if (!e) continue;
      double t = now();
      if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0) r->errors++;
      if (r->n == r->cap) { r->cap = r->cap ? r->cap * 2 : 65536; r->lat = realloc(r->lat, r->cap * sizeof(double)); }
      r->lat[r->n++] = t - c->sent;
      size_t rest = c->got - (size_t)(e + 4 - c->buf);
      memmove(c->buf, e + 4, rest); c->got = rest;
      c->sent = t;
      if (write(c->fd, req, reqlen) != (ssize_t)reqlen) r->errors++;
    }
  }
  return NULL;
}

static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: headload HOST PORT PATH CONNECTIONS SECONDS THREADS\n"); return 2; }
  host = argv[1]; port = atoi(argv[2]); path = argv[3]; secs = atoi(argv[5]);
  int threads = atoi(argv[6]); conns = atoi(argv[4]) / threads;
  reqlen = snprintf(req, sizeof req, "HEAD %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, host, port);
  pthread_t *t = calloc(threads, sizeof *t);
  struct result *r = calloc(threads, sizeof *r);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &r[i]);
  long n = 0, errors = 0;
  for (int i = 0; i < threads; i++) { pthread_join(t[i], NULL); n += r[i].n; errors += r[i].errors; }
  double *all = malloc((n + 1) * sizeof(double)); long k = 0;
  for (int i = 0; i < threads; i++) { memcpy(all + k, r[i].lat, r[i].n * sizeof(double)); k += r[i].n; }
  qsort(all, n, sizeof(double), cmp);
  printf("%.0f %.3fms %ld\n", n / (double)secs, n ? all[(long)(n * 0.99)] * 1000 : 0, errors);
  return 0;
}
