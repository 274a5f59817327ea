/*
 * proc.h: child processes on the libuv loop, behind host->proc_* (the contract is
 * struct hearth_proc_options and the proc_* members in include/hearth/plugin.h).
 *
 * As nvim does it: every child runs in its own session and process group
 * (UV_PROCESS_DETACHED, setsid), so kill(-pid, sig) reaches its grandchildren.
 * stdout and stderr are always pipes, stdin a pipe with HEARTH_PROC_STDIN or else
 * /dev/null. Reads go through one fixed buffer per process (PROC_READ_BUF), so
 * memory stays bounded whatever the child prints.
 *
 * Life of a child:
 *   - on_exit runs once, after the child exited AND both pipes reached EOF. A
 *     grandchild that keeps the pipes open gets PROC_DRAIN_MS after the child's
 *     exit; then the group is SIGKILLed, what is buffered is read, and the pipes
 *     are closed.
 *   - A timeout, proc_release() on a running child, and proc_kill_all() kill the
 *     group: SIGTERM, then SIGKILL after PROC_KILL_GRACE_MS (proc_kill_all: SIGKILL
 *     at once). Whenever the group was killed by us, on_exit (or the freeing of a
 *     released handle) waits until no process of the group is left, at most
 *     PROC_KILL_GRACE_MS + PROC_DRAIN_MS; group members that became our children
 *     (when hearthd is a child subreaper) are reaped here.
 *   - The handle is dead once on_exit has returned (proc_release() in on_exit is
 *     allowed, and implied when on_exit does not call it), or after proc_release().
 *     Its memory is freed later, from the last uv_close callback, once the child
 *     has been reaped.
 *
 * Writing to a child that has exited fails with HEARTH_EIO. The pipe write itself
 * raises SIGPIPE, so the process must ignore SIGPIPE: hearthd does, and so must
 * every test that uses this file.
 */
#ifndef HEARTH_PROC_H
#define HEARTH_PROC_H

#include <stddef.h>

#include <uv.h>

#include <hearth/plugin.h>

/* SIGTERM to SIGKILL, after a timeout or proc_release(). */
#define PROC_KILL_GRACE_MS 2000
/* How long pipes may stay open after the child exited before the group is killed. */
#define PROC_DRAIN_MS 2000
/* Bytes read from a pipe at a time: the only buffer a child's output goes through. */
#define PROC_READ_BUF 65536

/*
 * Start a child on `loop` as `opt` says (borrowed: everything is copied or used
 * before this returns). Returns the handle, or NULL with *error a HEARTH_E* code
 * and *message a malloc'd description ("cannot run 'x': no such file or
 * directory") that the caller frees. error and message may be NULL.
 * A failed spawn may leave handles closing: run the loop before uv_loop_close().
 */
struct hearth_proc *proc_spawn(uv_loop_t *loop, const struct hearth_proc_options *opt,
			       int *error, char **message);

/*
 * Queue `len` bytes (copied) for the child's stdin. Returns 0, HEARTH_EINVAL
 * without a stdin pipe or after proc_close_stdin(), HEARTH_EIO once the child
 * has exited or its stdin broke (EPIPE; later queued bytes are dropped).
 */
int proc_write(struct hearth_proc *p, const void *data, size_t len);

/* EOF on the child's stdin, after the bytes already queued. Idempotent. */
void proc_close_stdin(struct hearth_proc *p);

/*
 * Send `signum` to the child's whole process group. Returns 0, HEARTH_ENOENT
 * when the group is gone (or on_exit has run), HEARTH_EINVAL, HEARTH_EPERM.
 */
int proc_kill(struct hearth_proc *p, int signum);

/* The child's pid, which is also its process group and session id; -1 for NULL. */
int proc_pid(struct hearth_proc *p);

/*
 * Give the handle up: no callback follows. A running child's group gets SIGTERM,
 * then SIGKILL after PROC_KILL_GRACE_MS. The memory is freed once the child is
 * reaped and the handles are closed. NULL and a second call are no-ops.
 */
void proc_release(struct hearth_proc *p);

/*
 * Daemon shutdown: SIGKILL the group of every child not finished yet (released
 * ones too); no callback follows. Run the loop afterwards until it is empty.
 */
void proc_kill_all(void);

/*
 * Whether an environment variable is a secret that children do not inherit
 * without HEARTH_PROC_KEEP_SECRETS: ANTHROPIC_API_KEY, OPENAI_API_KEY,
 * GEMINI_API_KEY, GOOGLE_API_KEY, and any name ending in _API_KEY, _TOKEN,
 * _SECRET or _SECRET_KEY (compared without case). `name` may be a whole
 * "NAME=value" entry; only the part before '=' counts. NULL is no secret.
 */
int proc_env_is_secret(const char *name);

/* Tests only: shorten PROC_KILL_GRACE_MS and PROC_DRAIN_MS; 0 restores a default. */
void proc_set_test_timeouts(unsigned grace_ms, unsigned drain_ms);

#endif
