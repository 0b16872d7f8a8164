/* admin.gui.Register: the session's compositor tells bulkheadd where its control socket is. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "gui.h"
#include "util.h"

void h_gui_register(struct daemon *d, struct client *c, const struct api_request *req)
{
	_cleanup_free_ char *msg = NULL;
	const char *path = payload_str(req, "control");

	if (!path) {
		client_reply_error(c, API_E_VALUE, "payload needs \"control\": the socket's path");
		return;
	}
	int r = gui_register(d, path, client_uid(c), &msg);
	if (r < 0) {
		client_reply_error(c, r == -EPERM ? API_E_PERMISSION : API_E_VALUE, "%s", msg);
		return;
	}
	client_reply_ok(c, NULL);
	client_enter_gui(c);
}
