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
#include "k8s_impl.h"

extern char **environ;

#define OUTPUT_MAX (256u << 10)
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

/* The plugin's stdout into *OUT (malloc'ed); 0, or -errno with ERR. */
static int run_plugin(const struct k8s_exec *x, char **out, size_t *len, struct cfg_error *err)
{
	char info[256], *buf = malloc(OUTPUT_MAX + 1);
	posix_spawn_file_actions_t fa;
	int fds[2], status = 0, ret = 0;
	struct pollfd pfd;
	char **env = NULL;
	ssize_t n;
	pid_t pid;

	*len = 0;
	snprintf(info, sizeof(info),
		 "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
		 "\"spec\":{\"interactive\":false}}",
		 x->api_version);
	if (!buf || !(env = plugin_env(x, info)) || pipe2(fds, O_CLOEXEC)) {
		free(buf);
		free(env);
		return -ENOMEM;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	ret = -posix_spawnp(&pid, x->argv[0], &fa, NULL, x->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	close(fds[1]);
	if (ret) {
		snprintf(err->msg, sizeof(err->msg), "credential plugin %.300s: %s", x->argv[0],
			 strerror(-ret));
		goto cleanup;
	}
	pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
	for (;;) {
		if (*len == OUTPUT_MAX || poll(&pfd, 1, RUN_TIMEOUT_MS) != 1) {
			kill(pid, SIGKILL); /* too much to say, or silent too long */
			break;
		}
		if ((n = read(fds[0], buf + *len, OUTPUT_MAX - *len)) <= 0)
			break;
		*len += (size_t)n;
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(err->msg, sizeof(err->msg), "credential plugin %.300s %s %d", x->argv[0],
			 WIFEXITED(status) ? "exited with" : "ended by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		ret = -EACCES;
	}
cleanup:
	close(fds[0]);
	buf[*len] = 0;
	*out = buf;
	if (ret) {
		free(buf);
		*out = NULL;
	}
	return ret;
}

/* An RFC 3339 time in UTC ("2026-12-05T10:00:00Z", fractions allowed) as
 * unix time; 0 if it is not one. */
static long long rfc3339_utc(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (!end)
		return 0;
	if (*end == '.')
		end += 1 + strspn(end + 1, "0123456789");
	return *end == 'Z' && !end[1] ? (long long)timegm(&tm) : 0;
}

/* PEM text of the ExecCredential's FIELD into P (replacing what it had). */
static int take_pem(struct k8s_pem *p, const char *pem)
{
	char *copy = strdup(pem);

	if (!copy)
		return -ENOMEM;
	free(p->data);
	p->data = copy;
	p->len = strlen(copy);
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
	else if (until && !rfc3339_utc(until))
		snprintf(why, sizeof(why),
			 "expirationTimestamp '%.60s' is not an RFC 3339 UTC time", until);
	if (why[0]) {
		snprintf(err->msg, sizeof(err->msg), "credential plugin %.300s: %s",
			 conn->exec.argv[0], why);
		ret = -EINVAL;
	}
	if (!ret && token) {
		free(conn->token);
		ret = (conn->token = strdup(token)) ? 0 : -ENOMEM;
	}
	if (!ret && cert && key && !(ret = take_pem(&conn->cert, cert)))
		ret = take_pem(&conn->key, key);
	if (!ret) {
		conn->exec.expiry = until ? rfc3339_utc(until) : 0;
		conn->exec.stale = false;
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
