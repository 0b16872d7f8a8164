/* User lookup from /etc/passwd and /etc/group directly: the qube has no NSS modules, and a
 * static binary must not dlopen them. */
#include "agent.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Enough for any sane account; more are ignored rather than grown without bound. */
#define USER_MAX_GROUPS 256

void user_done(struct agent_user *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->home);
	free(u->shell);
	free(u->groups);
	*u = (struct agent_user){0};
}

static int find_passwd(const char *passwd_path, const char *name, struct agent_user *ret)
{
	_cleanup_fclose_ FILE *f = fopen(passwd_path, "re");
	struct passwd *pw;

	if (!f)
		return -errno;
	errno = 0;
	while ((pw = fgetpwent(f))) {
		if (!streq(pw->pw_name, name))
			continue;
		*ret = (struct agent_user){
		    .name = xstrdup(pw->pw_name),
		    .uid = pw->pw_uid,
		    .gid = pw->pw_gid,
		    .home = xstrdup(pw->pw_dir && pw->pw_dir[0] ? pw->pw_dir : "/"),
		    .shell = xstrdup(pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh"),
		};
		return 0;
	}
	return -ESRCH;
}

/* initgroups() by hand: the primary group plus every group listing the user as a member. */
static void find_groups(const char *group_path, struct agent_user *u)
{
	_cleanup_fclose_ FILE *f = NULL;
	struct group *gr;

	u->groups = xcalloc(USER_MAX_GROUPS, sizeof(gid_t));
	u->groups[0] = u->gid;
	u->n_groups = 1;

	f = fopen(group_path, "re");
	if (!f)
		return;
	while ((gr = fgetgrent(f)) && u->n_groups < USER_MAX_GROUPS) {
		if (gr->gr_gid == u->gid)
			continue;
		for (char **m = gr->gr_mem; m && *m; m++)
			if (streq(*m, u->name)) {
				u->groups[u->n_groups++] = gr->gr_gid;
				break;
			}
	}
}

int user_lookup(const char *passwd_path, const char *group_path, const char *name,
		struct agent_user *ret)
{
	struct agent_user u = {0};
	int r;

	if (name[0] == 0) {
		/* The default user is "user" when the template has one, root otherwise. */
		r = find_passwd(passwd_path, "user", &u);
		if (r == -ESRCH || r == -ENOENT)
			r = find_passwd(passwd_path, "root", &u);
		if (r == -ESRCH || r == -ENOENT) {
			/* A bare image may not even list root. */
			u = (struct agent_user){.name = xstrdup("root"),
						.home = xstrdup("/"),
						.shell = xstrdup("/bin/sh")};
			r = 0;
		}
	} else
		r = find_passwd(passwd_path, name, &u);
	if (r < 0)
		return r;

	find_groups(group_path, &u);
	*ret = u;
	return 0;
}
