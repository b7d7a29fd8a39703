/*
 * fuzz_sip_sdp.c - libFuzzer target for the SDP a SIP peer sends: parse
 * it, answer it as a fax line would, and check that our own answer
 * parses again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "modem/sip_sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sdp_prefs prefs = { { SDP_PT_PCMU, SDP_PT_PCMA }, 2, true, 400 };
    struct sdp_session offer, answer = { 0 }, back;
    struct sdp_choice choice;
    if (sdp_parse((const char *)data, size, &offer) != 0)
        return 0;
    sdp_accepted(&offer, &prefs, &choice);
    if (sdp_answer(&offer, &prefs, "127.0.0.1", false, 4000, 4002, &answer, &choice) != 0)
        return 0;
    char text[4096];
    int n = sdp_write(text, sizeof text, &answer);
    if (n > 0 && sdp_parse(text, (size_t)n, &back) != 0)
        abort();
    return 0;
}
