/*
 * hdlc_guard.h - stands between spandsp's HDLC receiver and its T.30
 * engine and drops frames that would crash spandsp 0.0.6 (a short ECM
 * FCD frame with a good CRC makes process_rx_fcd copy len-4 < 0 bytes).
 * A remote fax machine must never be able to crash the server.
 */
#ifndef FAXFS_MODEM_HDLC_GUARD_H
#define FAXFS_MODEM_HDLC_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include <tiffio.h>
#include <spandsp.h>

struct hdlc_guard {
    fax_state_t *fax;
    t30_set_handler_t *set_rx_type;  /* spandsp's own, called first */
    void *set_rx_type_user;
    long dropped;                    /* frames kept from T.30 */
};

/* Whether T.30 may see this frame (pure: the fuzzers and tests call it). */
bool hdlc_guard_frame_is_safe(const uint8_t *msg, int len);
/* Routes every HDLC frame fax receives through the guard. The guard
 * must live as long as fax. */
void hdlc_guard_attach(struct hdlc_guard *g, fax_state_t *fax);

#endif
