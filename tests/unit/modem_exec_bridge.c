/*
 * modem_exec_bridge.c - the far end of "--line exec:" in tests.
 *   modem_exec_bridge --exit STATUS NUMBER   exits at once (2 busy, 3 no answer, 4 no line)
 *   modem_exec_bridge --receive FILE NUMBER  answers with a spandsp fax receiver and
 *                                            stores the pages in FILE (renamed into
 *                                            place when the call ends)
 * Audio is raw 8 kHz 16-bit little-endian on stdin/stdout, one block out
 * per block in, so faxfs's audio paces this end.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tiffio.h>
#include <spandsp.h>

#define BLOCK 160

static int read_full(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(STDIN_FILENO, buf + got, len - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_full(const uint8_t *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t w = write(STDOUT_FILENO, buf + put, len - put);
        if (w <= 0)
            return -1;
        put += (size_t)w;
    }
    return 0;
}

static int receive(const char *file, const char *number)
{
    char part[4096];
    snprintf(part, sizeof part, "%s.part", file);
    fax_state_t *fax = fax_init(NULL, 0);
    t30_state_t *t30 = fax_get_t30_state(fax);
    t30_set_tx_ident(t30, number);
    t30_set_ecm_capability(t30, 1);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                            | T30_SUPPORT_T6_COMPRESSION);
    t30_set_rx_file(t30, part, -1);
    uint8_t raw[BLOCK * 2];
    int16_t amp[BLOCK];
    /* Keep the line until faxfs hangs up (closes our stdin). */
    while (read_full(raw, sizeof raw) == 0) {
        for (int i = 0; i < BLOCK; i++)
            amp[i] = (int16_t)(uint16_t)(raw[2 * i] | (raw[2 * i + 1] << 8));
        fax_rx(fax, amp, BLOCK);
        int n = fax_tx(fax, amp, BLOCK);
        if (n < BLOCK)
            memset(amp + n, 0, sizeof(int16_t) * (size_t)(BLOCK - n));
        for (int i = 0; i < BLOCK; i++) {
            raw[2 * i] = (uint8_t)((uint16_t)amp[i] & 0xff);
            raw[2 * i + 1] = (uint8_t)((uint16_t)amp[i] >> 8);
        }
        if (write_full(raw, sizeof raw) != 0)
            break;
    }
    t30_terminate(t30);
    fax_free(fax);
    return rename(part, file) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--exit") == 0)
        return atoi(argv[2]);
    /* faxfs closes our stdout when it hangs up: a failed write ends the
     * call like EOF does, and the pages are still saved. */
    signal(SIGPIPE, SIG_IGN);
    if (argc == 4 && strcmp(argv[1], "--receive") == 0)
        return receive(argv[2], argv[3]);
    fprintf(stderr, "usage: %s --exit STATUS NUMBER | --receive FILE NUMBER\n", argv[0]);
    return 64;
}
