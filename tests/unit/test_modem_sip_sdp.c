/*
 * test_modem_sip_sdp.c - SDP for fax calls: reading what Asterisk-,
 * FreeSWITCH- and gateway-style peers send, answering offers (T.38 first,
 * else one G.711 codec), and refusing what is not SDP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modem/sip_sdp.h"

static const struct sdp_prefs prefs_t38 = { { SDP_PT_PCMU, SDP_PT_PCMA }, 2, true, 400 };
static const struct sdp_prefs prefs_audio = { { SDP_PT_PCMA, SDP_PT_PCMU }, 2, false, 400 };

static const char audio_offer[] =
    "v=0\r\n"
    "o=- 1234 1 IN IP4 192.0.2.10\r\n"
    "s=call\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 8 0 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=ptime:20\r\n";

/* A T.38 re-INVITE the way gateways send it: audio kept at port 0. */
static const char t38_offer[] =
    "v=0\n"
    "o=gw 1234 2 IN IP4 192.0.2.10\n"
    "s=-\n"
    "c=IN IP4 192.0.2.10\n"
    "t=0 0\n"
    "m=audio 0 RTP/AVP 0\n"
    "m=image 40002 udptl t38\n"
    "c=IN IP4 192.0.2.11\n"
    "a=T38FaxVersion:0\n"
    "a=T38MaxBitRate:9600\n"
    "a=T38FaxRateManagement:transferredTCF\n"
    "a=T38FaxMaxDatagram:272\n"
    "a=T38FaxUdpEC:t38UDPFEC\n";

static void test_parse_reads_address_port_and_codecs(void **state)
{
    (void)state;
    struct sdp_session s;
    assert_int_equal(sdp_parse(audio_offer, strlen(audio_offer), &s), 0);
    assert_string_equal(s.addr, "192.0.2.10");
    assert_int_equal(s.version, 1);
    assert_int_equal(s.nmedia, 1);
    assert_int_equal(s.media[0].kind, SDP_MEDIA_AUDIO);
    assert_int_equal(s.media[0].port, 40000);
    assert_int_equal(s.media[0].nformats, 3);
    assert_int_equal(s.media[0].formats[0], 8);
    assert_int_equal(s.media[0].ptime, 20);
}

static void test_parse_reads_t38_attributes_and_media_address(void **state)
{
    (void)state;
    struct sdp_session s;
    assert_int_equal(sdp_parse(t38_offer, strlen(t38_offer), &s), 0);
    assert_int_equal(s.nmedia, 2);
    const struct sdp_media *m = &s.media[1];
    assert_int_equal(m->kind, SDP_MEDIA_IMAGE);
    assert_string_equal(m->addr, "192.0.2.11");
    assert_int_equal(m->t38.version, 0);
    assert_int_equal(m->t38.max_bitrate, 9600);
    assert_true(m->t38.transferred_tcf);
    assert_int_equal(m->t38.max_datagram, 272);
    assert_int_equal(m->t38.ec, SDP_T38_EC_FEC);
}

static void test_parse_refuses_text_that_is_not_sdp(void **state)
{
    (void)state;
    struct sdp_session s;
    const char *bad[] = {
        "", "hello", "v=1\r\nm=audio 1 RTP/AVP 0\r\n", "v=0\r\n", "v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
        "v=0\r\nm=audio 1 RTP/AVP\r\n", "v=0\r\nxyz\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sdp_parse(bad[i], strlen(bad[i]), &s), -EBADMSG);
}

static void test_parse_refuses_more_media_lines_than_it_keeps(void **state)
{
    (void)state;
    char text[512] = "v=0\r\nc=IN IP4 192.0.2.1\r\n";
    for (int i = 0; i <= SDP_MAX_MEDIA; i++)
        strcat(text, "m=audio 1000 RTP/AVP 0\r\n");
    struct sdp_session s;
    assert_int_equal(sdp_parse(text, strlen(text), &s), -EBADMSG);
}

static void test_answer_to_audio_offer_picks_our_preferred_codec(void **state)
{
    (void)state;
    struct sdp_session offer, answer = { 0 };
    struct sdp_choice c;
    assert_int_equal(sdp_parse(audio_offer, strlen(audio_offer), &offer), 0);
    assert_int_equal(sdp_answer(&offer, &prefs_t38, "127.0.0.1", false, 5000, 5002, &answer, &c), 0);
    assert_int_equal(c.kind, SDP_CHOICE_AUDIO);
    assert_int_equal(c.pt, SDP_PT_PCMU);
    assert_string_equal(c.addr, "192.0.2.10");
    assert_int_equal(c.port, 40000);
    assert_int_equal(answer.nmedia, 1);
    assert_int_equal(answer.media[0].nformats, 1);
    assert_int_equal(answer.media[0].port, 5000);
}

static void test_answer_to_t38_offer_accepts_t38_with_redundancy(void **state)
{
    (void)state;
    struct sdp_session offer, answer = { 0 };
    struct sdp_choice c;
    assert_int_equal(sdp_parse(t38_offer, strlen(t38_offer), &offer), 0);
    assert_int_equal(sdp_answer(&offer, &prefs_t38, "127.0.0.1", false, 5000, 5002, &answer, &c), 0);
    assert_int_equal(c.kind, SDP_CHOICE_T38);
    assert_string_equal(c.addr, "192.0.2.11");
    assert_int_equal(c.port, 40002);
    assert_int_equal(c.t38.max_datagram, 272);
    assert_int_equal(answer.nmedia, 2);
    assert_int_equal(answer.media[0].port, 0);
    assert_int_equal(answer.media[1].port, 5002);
    assert_int_equal(answer.media[1].t38.ec, SDP_T38_EC_REDUNDANCY);
    assert_int_equal(answer.media[1].t38.max_bitrate, 9600);
    char text[1024];
    assert_true(sdp_write(text, sizeof text, &answer) > 0);
    assert_non_null(strstr(text, "m=audio 0 RTP/AVP 0\r\n"));
    assert_non_null(strstr(text, "m=image 5002 udptl t38\r\n"));
    assert_non_null(strstr(text, "a=T38FaxRateManagement:transferredTCF\r\n"));
    assert_non_null(strstr(text, "a=T38FaxMaxDatagram:400\r\n"));
    assert_non_null(strstr(text, "a=T38FaxUdpEC:t38UDPRedundancy\r\n"));
}

static void test_answer_refuses_t38_only_offer_when_t38_is_off(void **state)
{
    (void)state;
    const char *img = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=image 4000 udptl t38\r\n";
    struct sdp_session offer, answer = { 0 };
    struct sdp_choice c;
    assert_int_equal(sdp_parse(img, strlen(img), &offer), 0);
    assert_int_equal(sdp_answer(&offer, &prefs_audio, "127.0.0.1", false, 5000, 5002, &answer, &c),
                     -EPROTONOSUPPORT);
}

static void test_answer_keeps_unknown_streams_refused_in_place(void **state)
{
    (void)state;
    const char *text = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=video 4000 RTP/AVP 96\r\nm=audio 4002 RTP/AVP 0\r\n";
    struct sdp_session offer, answer = { 0 };
    struct sdp_choice c;
    assert_int_equal(sdp_parse(text, strlen(text), &offer), 0);
    assert_int_equal(sdp_answer(&offer, &prefs_audio, "127.0.0.1", false, 5000, 5002, &answer, &c), 0);
    char out[512];
    assert_true(sdp_write(out, sizeof out, &answer) > 0);
    assert_non_null(strstr(out, "m=video 0 RTP/AVP 96\r\n"));
    assert_non_null(strstr(out, "m=audio 5000 RTP/AVP 0\r\n"));
}

static void test_offer_round_trips_through_the_parser(void **state)
{
    (void)state;
    struct sdp_session local = { 0 }, back;
    char text[1024];
    sdp_local_t38(&local, &prefs_t38, "10.0.0.5", false, 6002);
    int n = sdp_write(text, sizeof text, &local);
    assert_true(n > 0);
    assert_int_equal(sdp_parse(text, (size_t)n, &back), 0);
    struct sdp_choice c;
    assert_int_equal(sdp_accepted(&back, &prefs_t38, &c), 0);
    assert_int_equal(c.kind, SDP_CHOICE_T38);
    assert_int_equal(c.port, 6002);
    assert_int_equal(c.t38.max_datagram, 400);
    assert_int_equal(c.t38.ec, SDP_T38_EC_REDUNDANCY);
}

static void test_each_new_local_description_counts_its_version_up(void **state)
{
    (void)state;
    struct sdp_session local = { .id = 77 };
    sdp_local_audio(&local, &prefs_t38, "10.0.0.5", false, 6000);
    unsigned long long v1 = local.version;
    sdp_local_t38(&local, &prefs_t38, "10.0.0.5", false, 6002);
    assert_int_equal(local.id, 77);
    assert_int_equal(local.version, v1 + 1);
}

static void test_accepted_answer_without_usable_stream_is_refused(void **state)
{
    (void)state;
    const char *text = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 18\r\n";
    struct sdp_session ans;
    struct sdp_choice c;
    assert_int_equal(sdp_parse(text, strlen(text), &ans), 0);
    assert_int_equal(sdp_accepted(&ans, &prefs_audio, &c), -EPROTONOSUPPORT);
}

static void test_write_refuses_a_buffer_too_small(void **state)
{
    (void)state;
    struct sdp_session local = { 0 };
    char text[40];
    sdp_local_audio(&local, &prefs_audio, "10.0.0.5", false, 6000);
    assert_int_equal(sdp_write(text, sizeof text, &local), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reads_address_port_and_codecs),
        cmocka_unit_test(test_parse_reads_t38_attributes_and_media_address),
        cmocka_unit_test(test_parse_refuses_text_that_is_not_sdp),
        cmocka_unit_test(test_parse_refuses_more_media_lines_than_it_keeps),
        cmocka_unit_test(test_answer_to_audio_offer_picks_our_preferred_codec),
        cmocka_unit_test(test_answer_to_t38_offer_accepts_t38_with_redundancy),
        cmocka_unit_test(test_answer_refuses_t38_only_offer_when_t38_is_off),
        cmocka_unit_test(test_answer_keeps_unknown_streams_refused_in_place),
        cmocka_unit_test(test_offer_round_trips_through_the_parser),
        cmocka_unit_test(test_each_new_local_description_counts_its_version_up),
        cmocka_unit_test(test_accepted_answer_without_usable_stream_is_refused),
        cmocka_unit_test(test_write_refuses_a_buffer_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
