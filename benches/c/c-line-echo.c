/*
 * c-line-echo: a line-echo server in C on epoll, the lower baseline for weft's cost per
 * message (benches/cost.sh, docs/performance.md).
 *
 * Protocol (the same as line_echo and tokio-line-echo): a line is the bytes up to and
 * including '\n'; every complete line is written back byte for byte, in order. A line
 * longer than --max-line bytes (not counting '\n') gets "ERR line too long\n", after the
 * complete lines before it, and the connection closes (write side shut down, input read
 * and dropped until the peer's EOF). A partial line at end of stream is dropped.
 *
 * What it does per read batch, so that it costs what a framing server must and no more:
 *
 *   1. one read() into the reactor's read buffer (64 KiB), behind any partial line the
 *      connection carried over from its previous read;
 *   2. every line framed with memchr, and handed to the per-line handler through a function
 *      pointer (the handler appends its reply to the batch's output buffer);
 *   3. the batch's output sent with one write(); what the kernel does not take is kept on
 *      the connection, which then stops reading until EPOLLOUT has drained it;
 *   4. the partial line left at the end, if any, copied into the connection's own buffer
 *      (max-line + 1 bytes, allocated on first use).
 *
 * epoll is level-triggered, so one read per readiness event is enough: a read that filled
 * the buffer is reported ready again by the next epoll_wait.
 *
 * Flags: --addr IP:PORT (default 127.0.0.1:7000; port 0 picks a free port),
 *        --workers N (accepted for compatibility with the other servers; must be 1),
 *        --max-line BYTES (default 8192).
 * Prints "listening on IP:PORT" on stdout once bound. SIGTERM or SIGINT: exit 0.
 *
 * Build: gcc -O2 -g -Wall -Wextra -o c-line-echo benches/c/c-line-echo.c
 * (benches/cost.sh and benches/compare.py build it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF (64 * 1024)
#define MAX_EVENTS 1024
static const char TOO_LONG[] = "ERR line too long\n";

/* The batch's output: what the handlers wrote, sent with one write(). */
struct out {
    char *data;
    size_t len, cap;
};

/* The per-line handler: `line` includes its '\n'. Returns 0, or -1 to close. */
typedef int (*line_handler)(void *state, const char *line, size_t len, struct out *out);

struct conn {
    int fd;
    /* The partial line carried over to the next read: carry[0..carry_len], of which the
     * first `scanned` bytes are known to hold no '\n'. NULL until first needed. */
    char *carry;
    size_t carry_len;
    /* Output the kernel did not take yet: pending[pending_off..pending_len]. While any is
     * left the connection waits for EPOLLOUT and does not read. */
    char *pending;
    size_t pending_off, pending_len, pending_cap;
    /* After a too-long line: write side shut down, input discarded until EOF. */
    int lingering;
};

struct server {
    int epfd;
    size_t max_line;
    line_handler handler; /* called through the pointer, never inlined */
    void *handler_state;
    char *rbuf; /* the reactor's read buffer: max_line + 1 + READ_BUF bytes */
    struct out out;
    struct conn **conns; /* by fd */
    size_t nconns;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p)
        die("malloc");
    return p;
}

/* Makes room for `extra` more bytes in the output buffer. */
static void out_reserve(struct out *out, size_t extra) {
    if (out->cap - out->len >= extra)
        return;
    size_t cap = out->cap ? out->cap : 4096;
    while (cap - out->len < extra)
        cap *= 2;
    out->data = realloc(out->data, cap);
    if (!out->data)
        die("realloc");
    out->cap = cap;
}

/* The echo handler: the line back, byte for byte. */
static int echo_line(void *state, const char *line, size_t len, struct out *out) {
    (void)state;
    out_reserve(out, len);
    memcpy(out->data + out->len, line, len);
    out->len += len;
    return 0;
}

static void conn_close(struct server *s, struct conn *c) {
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    s->conns[c->fd] = NULL;
    free(c->carry);
    free(c->pending);
    free(c);
}

static void set_events(struct server *s, struct conn *c, unsigned events) {
    struct epoll_event ev = {.events = events, .data.fd = c->fd};
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl MOD");
}

/* Sends `data`; keeps what the kernel does not take. Returns -1 if the connection broke. */
static int send_or_keep(struct server *s, struct conn *c, const char *data, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(c->fd, data + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            size_t left = len - done;
            if (c->pending_cap < left) {
                free(c->pending);
                c->pending = xmalloc(left);
                c->pending_cap = left;
            }
            memcpy(c->pending, data + done, left);
            c->pending_off = 0;
            c->pending_len = left;
            set_events(s, c, EPOLLOUT);
            return 0;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Too-long line: the error line after what is owed, the write side shut down, input
 * dropped until EOF. */
static int reject(struct server *s, struct conn *c) {
    out_reserve(&s->out, sizeof TOO_LONG - 1);
    memcpy(s->out.data + s->out.len, TOO_LONG, sizeof TOO_LONG - 1);
    s->out.len += sizeof TOO_LONG - 1;
    c->lingering = 1;
    c->carry_len = 0;
    return 0;
}

/* One readiness event for reading. Returns -1 to close the connection. */
static int on_readable(struct server *s, struct conn *c) {
    char *buf = s->rbuf;
    if (c->lingering) {
        ssize_t n = read(c->fd, buf, READ_BUF);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return -1;
        return 0;
    }
    /* 1. The carried partial line, then one read behind it. */
    size_t have = c->carry_len, scanned = have;
    if (have)
        memcpy(buf, c->carry, have);
    ssize_t n = read(c->fd, buf + have, READ_BUF);
    if (n < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    int eof = n == 0;
    size_t end = have + (size_t)n;

    /* 2. Frame every line; `start` is the first byte of the current line. */
    size_t start = 0;
    int too_long = 0;
    s->out.len = 0;
    char *nl;
    while ((nl = memchr(buf + scanned, '\n', end - scanned)) != NULL) {
        size_t line_end = (size_t)(nl - buf) + 1;
        if (line_end - 1 - start > s->max_line) {
            too_long = 1;
            break;
        }
        if (s->handler(s->handler_state, buf + start, line_end - start, &s->out) < 0)
            return -1;
        start = scanned = line_end;
    }
    if (!too_long && end - start > s->max_line)
        too_long = 1;
    if (too_long)
        reject(s, c);

    /* 3. The batch's output in one write. */
    if (s->out.len && send_or_keep(s, c, s->out.data, s->out.len) < 0)
        return -1;
    if (too_long) {
        if (c->pending_len == 0)
            shutdown(c->fd, SHUT_WR);
        return 0;
    }
    if (eof)
        return c->pending_len ? (c->lingering = 1, 0) : -1;

    /* 4. Carry the partial line over. */
    c->carry_len = end - start;
    if (c->carry_len) {
        if (!c->carry)
            c->carry = xmalloc(s->max_line + 1);
        memcpy(c->carry, buf + start, c->carry_len);
    }
    return 0;
}

/* EPOLLOUT while output is pending. Returns -1 to close the connection. */
static int on_writable(struct server *s, struct conn *c) {
    while (c->pending_off < c->pending_len) {
        ssize_t n = write(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
        if (n > 0)
            c->pending_off += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && errno == EAGAIN)
            return 0;
        else
            return -1;
    }
    c->pending_off = c->pending_len = 0;
    if (c->lingering)
        shutdown(c->fd, SHUT_WR);
    set_events(s, c, EPOLLIN);
    return 0;
}

static void accept_all(struct server *s, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                perror("accept4"); /* EMFILE and friends: try again at the next event */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if ((size_t)fd >= s->nconns) {
            size_t n = s->nconns ? s->nconns : 1024;
            while (n <= (size_t)fd)
                n *= 2;
            s->conns = realloc(s->conns, n * sizeof *s->conns);
            if (!s->conns)
                die("realloc");
            memset(s->conns + s->nconns, 0, (n - s->nconns) * sizeof *s->conns);
            s->nconns = n;
        }
        struct conn *c = xmalloc(sizeof *c);
        memset(c, 0, sizeof *c);
        c->fd = fd;
        s->conns[fd] = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl ADD");
    }
}

static void usage(void) {
    fprintf(stderr, "usage: c-line-echo [--addr IP:PORT] [--workers 1] [--max-line BYTES]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1:7000";
    long max_line = 8192;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--addr"))
            addr = argv[++i];
        else if (!strcmp(argv[i], "--workers")) {
            if (strcmp(argv[++i], "1"))
                usage();
        } else if (!strcmp(argv[i], "--max-line")) {
            max_line = atol(argv[++i]);
            if (max_line < 1)
                usage();
        } else
            usage();
    }

    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    /* No SA_RESTART: epoll_wait returns EINTR, and the loop sees `stopping`. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        usage();
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        usage();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("bind");
    if (listen(lfd, 4096) < 0)
        die("listen");
    socklen_t slen = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &slen);

    struct server s = {
        .max_line = (size_t)max_line,
        .handler = echo_line,
        .handler_state = NULL,
        .rbuf = xmalloc((size_t)max_line + 1 + READ_BUF),
    };
    s.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s.epfd < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
        die("epoll_ctl listener");

    char shown[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin.sin_addr, shown, sizeof shown);
    printf("listening on %s:%u\n", shown, ntohs(sin.sin_port));
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    while (!stopping) {
        int n = epoll_wait(s.epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                accept_all(&s, lfd);
                continue;
            }
            struct conn *c = s.conns[fd];
            if (!c)
                continue;
            int rc = c->pending_len ? on_writable(&s, c) : on_readable(&s, c);
            if (rc < 0)
                conn_close(&s, c);
        }
    }
    return 0;
}
