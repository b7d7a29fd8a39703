/*
 * audiosocket.h - the AudioSocket wire format of Asterisk's AudioSocket()
 * application: frames of a 3-byte header (type, 16-bit big-endian payload
 * length) and a payload. A pure parser over bytes, with no I/O, so that
 * the fuzzer and the tests drive exactly what the listener runs.
 */
#ifndef FAXFS_MODEM_AUDIOSOCKET_H
#define FAXFS_MODEM_AUDIOSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AS_HEADER_LEN 3
#define AS_TYPE_HANGUP 0x00
#define AS_TYPE_UUID 0x01
#define AS_TYPE_DTMF 0x03  /* newer Asterisk: one ASCII digit; ignored */
#define AS_TYPE_AUDIO 0x10 /* signed linear 16-bit little-endian, 8 kHz mono */
#define AS_TYPE_ERROR 0xff
#define AS_UUID_LEN 16
#define AS_MAX_AUDIO 4000  /* bytes (250 ms); Asterisk sends 320 per 20 ms */
#define AS_MAX_ERROR 64

struct as_frame {
    uint8_t type;
    uint16_t len;
    const uint8_t *payload; /* valid during the callback only */
};

typedef void as_frame_fn(void *user, const struct as_frame *f);

struct as_parser {
    uint8_t buf[AS_HEADER_LEN + AS_MAX_AUDIO]; /* the frame being assembled */
    size_t have;
    bool got_uuid;
    bool ended;     /* hang-up or error frame seen: the call is over */
    bool failed;    /* the stream is malformed: error says how */
    bool pause_after_uuid; /* stop right after the UUID frame (see as_parse) */
    char error[96];
};

void as_parser_init(struct as_parser *p);
/* Takes the next bytes of the stream and calls fn for each complete,
 * valid frame. Returns how many bytes it took: all of them, except that
 * with pause_after_uuid it stops right after the UUID frame, so the
 * caller can set the call up before anything else is looked at. Returns
 * -1 once the stream is malformed (bad type, wrong length, UUID not
 * first, oversize): p->error says how, and no further byte is accepted.
 * Bytes after a hang-up or error frame are taken and ignored. */
long as_parse(struct as_parser *p, const uint8_t *data, size_t len, as_frame_fn *fn, void *user);
/* Writes a frame header into out[0..2]. */
void as_put_header(uint8_t *out, uint8_t type, uint16_t len);
/* The UUID in its usual text form (36 characters and a NUL). */
void as_uuid_text(const uint8_t uuid[AS_UUID_LEN], char out[37]);

#endif
