// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Credential plugins (a kubeconfig's users[].user.exec, as EKS's `aws eks
 * get-token` or GKE's `gke-gcloud-auth-plugin`): the command runs with
 * KUBERNETES_EXEC_INFO in its environment and prints an ExecCredential,
 * whose status has a token or a client certificate and key, and maybe an
 * expirationTimestamp. The credential is used until then (10 s before),
 * or, without one, until the API server answers 401, as client-go does.
 * Its stderr is ours (the plugin's own messages reach the log).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timer_wheel.h"
#include "k8s_impl.h"

extern char **environ;

#define OUTPUT_MAX     (256u << 10)
#define RUN_TIMEOUT_MS 30000

void k8s_exec_free(struct k8s_exec *x)
{
	for (char **p = x->argv; p && *p; p++)
		free(*p);
	for (char **p = x->env; p && *p; p++)
		free(*p);
	free(x->argv);
	free(x->env);
	memset(x, 0, sizeof(*x));
}

/* Our environment, X's and KUBERNETES_EXEC_INFO: a NULL-ended array whose
 * strings belong to others (free the array only). */
static char **plugin_env(const struct k8s_exec *x, char *info)
{
	size_t n = 0, m = 0, i = 0;
	char **env;

	while (environ[n])
		n++;
	while (x->env && x->env[m])
		m++;
	if (!(env = calloc(n + m + 2, sizeof(*env))))
		return NULL;
	for (size_t j = 0; j < n; j++)
		if (strncmp(environ[j], "KUBERNETES_EXEC_INFO=", 21))
			env[i++] = environ[j];
	for (size_t j = 0; j < m; j++)
		env[i++] = x->env[j];
	env[i] = info;
	return env;
}

/* X's command started with its stdout on *FD: the thread's blocked signals
 * and ignored SIGPIPE are not passed on. */
static int spawn_plugin(const struct k8s_exec *x, pid_t *pid, int *fd, struct cfg_error *err)
{
	char info[256], **env = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, pipe_default;
	int fds[2], ret;

	snprintf(info, sizeof(info),
		 "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
		 "\"spec\":{\"interactive\":false}}",
		 x->api_version);
	if (!(env = plugin_env(x, info)))
		return -ENOMEM;
	if (pipe2(fds, O_CLOEXEC)) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "credential plugin: pipe: %s", strerror(-ret));
		free(env);
		return ret;
	}
	sigemptyset(&none);
	sigemptyset(&pipe_default);
	sigaddset(&pipe_default, SIGPIPE);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &pipe_default);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	ret = -posix_spawnp(pid, x->argv[0], &fa, &attr, x->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	close(fds[1]);
	if (ret) {
		close(fds[0]);
		snprintf(err->msg, sizeof(err->msg), "credential plugin %.300s: %s", x->argv[0],
			 strerror(-ret));
		return ret;
	}
	*fd = fds[0];
	return 0;
}

/* PID's exit status by DEADLINE (monotonic ms); killed (it is our child)
 * if it runs on past it. */
static int reap(pid_t pid, long long deadline)
{
	int status = 0;
	pid_t got;

	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && (long long)timer_now_ms() < deadline)
		usleep(10 * 1000);
	if (got == 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return -ETIMEDOUT;
	}
	return got < 0 ? -errno : status;
}

/* The plugin's stdout into *OUT (malloc'ed), all within RUN_TIMEOUT_MS; 0,
 * or -errno with ERR. */
static int run_plugin(const struct k8s_exec *x, char **out, size_t *len, struct cfg_error *err)
{
	long long deadline = (long long)timer_now_ms() + RUN_TIMEOUT_MS, left;
	char *buf = malloc(OUTPUT_MAX + 1);
	struct pollfd pfd;
	int fd, status, ret;
	ssize_t n;
	pid_t pid;

	*out = NULL;
	*len = 0;
	if (!buf)
		return -ENOMEM;
	if ((ret = spawn_plugin(x, &pid, &fd, err))) {
		free(buf);
		return ret;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	while (*len < OUTPUT_MAX && (left = deadline - (long long)timer_now_ms()) > 0) {
		if ((ret = poll(&pfd, 1, (int)left)) < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			break;
		if ((n = read(fd, buf + *len, OUTPUT_MAX - *len)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	close(fd);
	/* Past its output (or its time, or too much of it): the rest of the
	 * time to end, then killed. */
	status = reap(pid, *len < OUTPUT_MAX ? deadline : 0);
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		if (status == -ETIMEDOUT)
			snprintf(err->msg, sizeof(err->msg),
				 "credential plugin %.300s: killed after %d s or %u KiB of output",
				 x->argv[0], RUN_TIMEOUT_MS / 1000, OUTPUT_MAX >> 10);
		else
			snprintf(err->msg, sizeof(err->msg), "credential plugin %.300s %s %d",
				 x->argv[0],
				 status < 0	     ? "cannot be waited for: errno"
				 : WIFEXITED(status) ? "exited with"
						     : "ended by signal",
				 status < 0	     ? -status
				 : WIFEXITED(status) ? WEXITSTATUS(status)
						     : WTERMSIG(status));
		free(buf);
		return -EACCES;
	}
	buf[*len] = 0;
	*out = buf;
	return 0;
}

/* An RFC 3339 time ("2026-12-05T10:00:00Z", "...:00.5+01:00") as unix
 * time; 0 if it is not one. */
static long long rfc3339(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	int hh, mm, n = 0;

	if (!end)
		return 0;
	if (*end == '.')
		end += 1 + strspn(end + 1, "0123456789");
	if (*end == 'Z' && !end[1])
		return (long long)timegm(&tm);
	if ((*end != '+' && *end != '-') || sscanf(end + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 ||
	    n != 5 || end[6] || hh > 23 || mm > 59)
		return 0;
	/* local time = UTC + offset */
	return (long long)timegm(&tm) - (*end == '+' ? 1 : -1) * (hh * 3600LL + mm * 60);
}

/* The ExecCredential's certificate and key (PEM text) into CONN, both or
 * neither. */
static int take_cert(struct k8s_conn *conn, const char *cert, const char *key)
{
	char *c = strdup(cert), *k = strdup(key);

	if (!c || !k) {
		free(c);
		free(k);
		return -ENOMEM;
	}
	free(conn->cert.data);
	free(conn->key.data);
	conn->cert = (struct k8s_pem){.data = c, .len = strlen(c)};
	conn->key = (struct k8s_pem){.data = k, .len = strlen(k)};
	return 0;
}

/* The ExecCredential TEXT into CONN. */
static int take_credential(struct k8s_conn *conn, const char *text, size_t len,
			   struct cfg_error *err)
{
	json_t *cred = json_loadb(text, len, 0, NULL);
	const char *kind = k8s_str(cred, "kind"), *api = k8s_str(cred, "apiVersion");
	const char *token = k8s_str(cred, "status.token");
	const char *cert = k8s_str(cred, "status.clientCertificateData");
	const char *key = k8s_str(cred, "status.clientKeyData");
	const char *until = k8s_str(cred, "status.expirationTimestamp");
	int ret = 0;

	char why[200] = "";

	if (!kind || strcmp(kind, "ExecCredential") || !api || strcmp(api, conn->exec.api_version))
		snprintf(why, sizeof(why), "its output is not an ExecCredential of %.80s",
			 conn->exec.api_version);
	else if (!token && (!cert || !key))
		snprintf(why, sizeof(why),
			 "no token, nor a client certificate and key, in its status");
	else if (until && !rfc3339(until))
		snprintf(why, sizeof(why), "expirationTimestamp '%.60s' is not an RFC 3339 time",
			 until);
	if (why[0]) {
		snprintf(err->msg, sizeof(err->msg), "credential plugin %.300s: %s",
			 conn->exec.argv[0], why);
		ret = -EINVAL;
	}
	if (!ret) { /* the credential is what it gives now, and only that */
		free(conn->token);
		conn->token = NULL;
		if (token && !(conn->token = strdup(token)))
			ret = -ENOMEM;
	}
	if (!ret && cert && key)
		ret = take_cert(conn, cert, key);
	if (!ret) {
		conn->exec.expiry = until ? rfc3339(until) : 0;
		conn->exec.stale = false;
		conn->exec.gen++;
	}
	json_decref(cred);
	return ret;
}

int k8s_exec_run(struct k8s_conn *conn, struct cfg_error *err)
{
	char *out;
	size_t len;
	int ret;

	if ((ret = run_plugin(&conn->exec, &out, &len, err)))
		return ret;
	ret = take_credential(conn, out, len, err);
	free(out);
	return ret;
}

void k8s_exec_refresh(struct k8s_conn *conn)
{
	struct cfg_error err = {""};
	bool after_401 = conn->exec.stale;

	if (!conn->exec.argv ||
	    (!conn->exec.stale && (!conn->exec.expiry || time(NULL) + 10 < conn->exec.expiry)))
		return;
	if (k8s_exec_run(conn, &err))
		pr_warn("kubernetes: %s; the last credential stays", err.msg);
	else
		conn->exec.after_401 = after_401;
}
