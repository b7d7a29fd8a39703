/*
 * media_latch.h - symmetric RTP/UDPTL ("comedia"): where a call's media
 * may be sent. The SDP c= address of a peer is only a hint: media goes
 * to it at once only when it is the signalling peer's own address;
 * otherwise nothing is sent until media arrives. The first valid packet
 * from the signalling peer's address or the c= address fixes the
 * destination to the exact address and port it came from; from then on
 * only packets from there are taken. A c= naming a third party therefore
 * never makes us send to it, unless it sends us media first.
 */
#ifndef FAXFS_MODEM_MEDIA_LATCH_H
#define FAXFS_MODEM_MEDIA_LATCH_H

#include <stdbool.h>
#include <sys/socket.h>

#include "modem/admission.h"

struct media_latch {
    struct peer_addr signalling;     /* the SIP peer's address */
    bool have_signalling;
    struct sockaddr_storage offered; /* c= address, m= port */
    socklen_t offered_len;
    bool latched;
    struct sockaddr_storage dst;     /* where media goes once latched */
    socklen_t dst_len;
};

/* A new offer/answer: the signalling peer's address (may be NULL when not
 * known: then nothing is sent before media arrives) and the SDP's
 * address and port. The latch is kept when the offered address and port
 * did not change (a re-INVITE to the same media). */
void media_latch_offer(struct media_latch *m, const struct peer_addr *signalling, const struct sockaddr *offered,
                       socklen_t len);
/* Where to send now: NULL when nowhere yet. */
const struct sockaddr *media_latch_dst(const struct media_latch *m, socklen_t *len);
/* A valid-looking packet arrived from `from`: whether to take it in
 * (it may latch the destination). */
bool media_latch_packet(struct media_latch *m, const struct sockaddr *from, socklen_t len);

#endif
