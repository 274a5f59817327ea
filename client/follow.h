/*
 * follow.h: following one session for `hearth run` and `hearth attach`: its
 * updates are shown (render.h), in sequence order and each once; permission
 * requests are asked on the terminal, refused, or left to other clients; a
 * _hearth/resync from the daemon resumes the session from the last update seen;
 * SIGINT cancels the turn (run) or ends the command.
 *
 * Use follow_msg_cb and follow_signal_cb as the client_rpc handlers, with the
 * struct follow as their argument.
 */
#ifndef HEARTH_CLIENT_FOLLOW_H
#define HEARTH_CLIENT_FOLLOW_H

#include <jansson.h>

#include "client_rpc.h"
#include "render.h"

enum follow_permission {
	FOLLOW_PERMISSION_ASK,    /* ask on the terminal */
	FOLLOW_PERMISSION_REJECT, /* answer reject_once and say why on stderr */
	FOLLOW_PERMISSION_LEAVE,  /* do not answer: another client may */
};

struct follow {
	char *session_id;         /* owned */
	char *cwd;                /* owned: the session's directory, for session/resume */
	struct render render;
	enum follow_permission permission;
	json_int_t last_seq;      /* the newest update shown; older ones are skipped */
	int cancel_on_interrupt;  /* run: the first SIGINT sends session/cancel */
	int cancel_sent;
	int left_noted;           /* said once that permission is left to others */
};

/* Start following session_id in cwd (both copied), showing updates as `render` says. */
void follow_init(struct follow *f, const char *session_id, const char *cwd,
		 enum render_format format, int show_user, enum follow_permission permission);
void follow_clear(struct follow *f);

/* The client_rpc handlers; arg is the struct follow. */
int follow_msg_cb(void *arg, struct client_rpc *c, const struct rpc_msg *msg);
int follow_signal_cb(void *arg, struct client_rpc *c);

/*
 * session/resume from f->last_seq (only what was missed is replayed, and shown).
 * Returns 0, or -1 after printing why on stderr.
 */
int follow_resume(struct follow *f, struct client_rpc *c);

#endif
