// Bulkhead: "Open link in a disposable qube" in the context menu of links, as Qubes' "Open in
// DisposableVM". The link's URL goes to the native host bulkhead_open (bulkhead-firefox-open),
// which checks it again and hands it to bulkhead-open-in-dvm; nothing of the page goes with it.
// A single item, so that Firefox shows it in the menu itself rather than in a submenu; "&i"
// makes I its access key (no other item on a link's menu has it).
"use strict";

browser.menus.create({
  id: "link",
  title: "Open link &in a disposable qube",
  contexts: ["link"],
});

browser.menus.onClicked.addListener((info) => {
  if (info.menuItemId !== "link" || !info.linkUrl)
    return;
  browser.runtime.sendNativeMessage("bulkhead_open", { url: info.linkUrl }).then(
    (reply) => {
      if (!reply || reply.error)
        console.error("Bulkhead: not opened in a disposable qube:", reply && reply.error);
    },
    (err) => console.error("Bulkhead: bulkhead-firefox-open failed:", err.message));
});
