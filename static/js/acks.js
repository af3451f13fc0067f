// A tab tells the server now and then how much it has read. The server stops sending
// to a socket whose reader fell too far behind (or never reads), so one slow or broken
// client cannot make the server buffer without bound (code 4408; the tab reconnects
// and catches up from the text so far).
(function () {
  "use strict";

  var ACK_EVERY = 32768; // characters read between two acknowledgements
  var read = 0;

  document.addEventListener("htmx:wsOpen", function () {
    read = 0;
  });

  document.addEventListener("htmx:wsAfterMessage", function (event) {
    read += event.detail.message.length;
    if (read < ACK_EVERY) return;
    event.detail.socketWrapper.send(JSON.stringify({ action: "ack", read: read }));
    read = 0;
  });
})();
