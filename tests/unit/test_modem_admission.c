/*
 * test_modem_admission.c - who may call: the allowed-peer matcher (IPv4,
 * IPv6, v4-mapped), the per-source call count, the refusal log throttle,
 * and the symmetric RTP rule that decides where media may be sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "modem/admission.h"
#include "modem/media_latch.h"

static struct peer_addr addr(const char *text)
{
    struct peer_addr a;
    assert_int_equal(peer_addr_from_text(&a, text), 0);
    return a;
}

static bool allows(const struct peer_acl *acl, const char *text)
{
    struct peer_addr a = addr(text);
    return peer_acl_allows(acl, &a);
}

static struct sockaddr_storage sock(const char *ip, int port, socklen_t *len)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
    } else {
        assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    }
    return ss;
}

static int port_of(const struct sockaddr *sa)
{
    return ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                          : ((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* ---- the allowed-peer list ---- */

static void test_ipv4_prefix_allows_its_addresses_and_nothing_else(void **state)
{
    (void)state;
    struct peer_acl acl;
    char err[160];
    assert_int_equal(peer_acl_parse(&acl, "192.0.2.0/24, 198.51.100.7", err, sizeof err), 0);
    assert_true(allows(&acl, "192.0.2.0"));
    assert_true(allows(&acl, "192.0.2.255"));
    assert_true(allows(&acl, "198.51.100.7"));
    assert_false(allows(&acl, "192.0.3.1"));
    assert_false(allows(&acl, "198.51.100.8"));
    assert_false(allows(&acl, "2001:db8::1"));
}

static void test_prefix_lengths_that_are_not_whole_bytes_match_exactly(void **state)
{
    (void)state;
    struct peer_acl acl;
    char err[160];
    assert_int_equal(peer_acl_parse(&acl, "10.1.2.64/26", err, sizeof err), 0);
    assert_true(allows(&acl, "10.1.2.64"));
    assert_true(allows(&acl, "10.1.2.127"));
    assert_false(allows(&acl, "10.1.2.63"));
    assert_false(allows(&acl, "10.1.2.128"));
}

static void test_ipv6_prefix_and_v4_mapped_callers(void **state)
{
    (void)state;
    struct peer_acl acl;
    char err[160];
    assert_int_equal(peer_acl_parse(&acl, "2001:db8:1::/48,127.0.0.0/8", err, sizeof err), 0);
    assert_true(allows(&acl, "2001:db8:1:ffff::5"));
    assert_false(allows(&acl, "2001:db8:2::5"));
    /* A dual-stack socket reports an IPv4 caller as ::ffff:a.b.c.d. */
    assert_true(allows(&acl, "::ffff:127.0.0.2"));
    assert_false(allows(&acl, "::ffff:10.0.0.1"));
    assert_false(allows(&acl, "::1"));
}

static void test_any_allows_everybody(void **state)
{
    (void)state;
    struct peer_acl acl;
    char err[160];
    assert_int_equal(peer_acl_parse(&acl, "any", err, sizeof err), 0);
    assert_true(allows(&acl, "203.0.113.9"));
    assert_true(allows(&acl, "2001:db8::9"));
}

static void test_bad_lists_are_refused_naming_the_entry(void **state)
{
    (void)state;
    struct peer_acl acl;
    char err[160];
    static const char *const bad[] = { "", "10.0.0.0/33", "10.0.0.1/24", "host.example", "10.0.0.0/", "::1/129",
                                       "1.2.3.4/-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(peer_acl_parse(&acl, bad[i], err, sizeof err), -EINVAL);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(peer_acl_parse(&acl, "10.0.0.1/24", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "10.0.0.1/24"));
}

/* ---- calls per source ---- */

static void test_per_source_limit_refuses_the_extra_call_only_from_that_source(void **state)
{
    (void)state;
    static struct peer_count pc;
    struct peer_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");
    peer_count_init(&pc, 2);
    assert_int_equal(peer_count_take(&pc, &a), 0);
    assert_int_equal(peer_count_take(&pc, &a), 0);
    assert_int_equal(peer_count_take(&pc, &a), -EBUSY);
    assert_int_equal(peer_count_take(&pc, &b), 0);
    assert_int_equal(peer_count_of(&pc, &a), 2);
    peer_count_put(&pc, &a);
    assert_int_equal(peer_count_take(&pc, &a), 0);
    assert_int_equal(peer_count_of(&pc, &b), 1);
}

static void test_sources_without_calls_leave_the_table(void **state)
{
    (void)state;
    static struct peer_count pc;
    peer_count_init(&pc, 1);
    char ip[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < PEER_COUNT_SLOTS; i++) {
            snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
            struct peer_addr a = addr(ip);
            assert_int_equal(peer_count_take(&pc, &a), 0);
        }
        struct peer_addr extra = addr("10.200.0.1");
        assert_int_equal(peer_count_take(&pc, &extra), -ENOSPC);
        for (int i = 0; i < PEER_COUNT_SLOTS; i++) {
            snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
            struct peer_addr a = addr(ip);
            peer_count_put(&pc, &a);
        }
        assert_int_equal(pc.used, 0);
    }
}

/* ---- the refusal log ---- */

static void test_refusals_are_logged_once_per_source_per_window(void **state)
{
    (void)state;
    static struct refusal_log rl;
    refusal_log_init(&rl, 60, 10);
    struct peer_addr a = addr("192.0.2.1");
    long held = -1;
    assert_true(refusal_log_should(&rl, &a, 100, &held));
    assert_int_equal(held, 0);
    for (int i = 0; i < 500; i++)
        assert_false(refusal_log_should(&rl, &a, 100 + i / 10, &held));
    assert_true(refusal_log_should(&rl, &a, 161, &held));
    assert_int_equal(held, 500);
}

static void test_a_flood_from_many_sources_logs_at_most_the_burst_per_window(void **state)
{
    (void)state;
    static struct refusal_log rl;
    refusal_log_init(&rl, 60, 10);
    int logged = 0;
    long held;
    char ip[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
        struct peer_addr a = addr(ip);
        logged += refusal_log_should(&rl, &a, 1000 + i / 1000, &held);
    }
    assert_int_equal(logged, 10);
}

/* ---- symmetric RTP ---- */

static void test_media_goes_to_the_offered_address_when_it_is_the_signalling_peer(void **state)
{
    (void)state;
    struct media_latch m = { 0 };
    struct peer_addr sig = addr("192.0.2.10");
    socklen_t len, dlen;
    struct sockaddr_storage c = sock("192.0.2.10", 4000, &len);
    media_latch_offer(&m, &sig, (struct sockaddr *)&c, len);
    const struct sockaddr *dst = media_latch_dst(&m, &dlen);
    assert_non_null(dst);
    assert_int_equal(port_of(dst), 4000);
}

static void test_a_third_party_in_sdp_gets_nothing_until_media_comes_from_it(void **state)
{
    (void)state;
    struct media_latch m = { 0 };
    struct peer_addr sig = addr("192.0.2.10");
    socklen_t len, dlen, flen;
    struct sockaddr_storage c = sock("203.0.113.5", 5004, &len);
    media_latch_offer(&m, &sig, (struct sockaddr *)&c, len);
    assert_null(media_latch_dst(&m, &dlen));
    /* Packets from anywhere else are neither taken nor latched. */
    struct sockaddr_storage stranger = sock("198.51.100.1", 5004, &flen);
    assert_false(media_latch_packet(&m, (struct sockaddr *)&stranger, flen));
    assert_null(media_latch_dst(&m, &dlen));
    /* The signalling peer's media (any port) fixes the destination. */
    struct sockaddr_storage from = sock("192.0.2.10", 7078, &flen);
    assert_true(media_latch_packet(&m, (struct sockaddr *)&from, flen));
    const struct sockaddr *dst = media_latch_dst(&m, &dlen);
    assert_non_null(dst);
    struct peer_addr d;
    peer_addr_from_sockaddr(&d, dst);
    assert_true(peer_addr_equal(&d, &sig));
    assert_int_equal(port_of(dst), 7078);
}

static void test_media_from_the_offered_address_latches_where_it_came_from(void **state)
{
    (void)state;
    struct media_latch m = { 0 };
    struct peer_addr sig = addr("192.0.2.10");
    socklen_t len, dlen, flen;
    struct sockaddr_storage c = sock("192.0.2.99", 5004, &len); /* a media gateway beside the proxy */
    media_latch_offer(&m, &sig, (struct sockaddr *)&c, len);
    struct sockaddr_storage from = sock("192.0.2.99", 5006, &flen);
    assert_true(media_latch_packet(&m, (struct sockaddr *)&from, flen));
    assert_int_equal(port_of(media_latch_dst(&m, &dlen)), 5006);
    /* Once latched, only that address and port are taken. */
    struct sockaddr_storage other = sock("192.0.2.10", 5006, &flen);
    assert_false(media_latch_packet(&m, (struct sockaddr *)&other, flen));
    assert_int_equal(port_of(media_latch_dst(&m, &dlen)), 5006);
}

static void test_a_new_offer_to_other_media_drops_the_latch_and_a_repeat_keeps_it(void **state)
{
    (void)state;
    struct media_latch m = { 0 };
    struct peer_addr sig = addr("2001:db8::10");
    socklen_t len, dlen, flen;
    struct sockaddr_storage c = sock("2001:db8::10", 4000, &len);
    media_latch_offer(&m, &sig, (struct sockaddr *)&c, len);
    struct sockaddr_storage from = sock("2001:db8::10", 4100, &flen);
    assert_true(media_latch_packet(&m, (struct sockaddr *)&from, flen));
    media_latch_offer(&m, &sig, (struct sockaddr *)&c, len); /* the same again */
    assert_int_equal(port_of(media_latch_dst(&m, &dlen)), 4100);
    struct sockaddr_storage c2 = sock("2001:db8::99", 4002, &len);
    media_latch_offer(&m, &sig, (struct sockaddr *)&c2, len);
    assert_null(media_latch_dst(&m, &dlen));
}

static void test_without_a_known_signalling_peer_nothing_is_sent_first(void **state)
{
    (void)state;
    struct media_latch m = { 0 };
    socklen_t len, dlen;
    struct sockaddr_storage c = sock("192.0.2.10", 4000, &len);
    media_latch_offer(&m, NULL, (struct sockaddr *)&c, len);
    assert_null(media_latch_dst(&m, &dlen));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_prefix_allows_its_addresses_and_nothing_else),
        cmocka_unit_test(test_prefix_lengths_that_are_not_whole_bytes_match_exactly),
        cmocka_unit_test(test_ipv6_prefix_and_v4_mapped_callers),
        cmocka_unit_test(test_any_allows_everybody),
        cmocka_unit_test(test_bad_lists_are_refused_naming_the_entry),
        cmocka_unit_test(test_per_source_limit_refuses_the_extra_call_only_from_that_source),
        cmocka_unit_test(test_sources_without_calls_leave_the_table),
        cmocka_unit_test(test_refusals_are_logged_once_per_source_per_window),
        cmocka_unit_test(test_a_flood_from_many_sources_logs_at_most_the_burst_per_window),
        cmocka_unit_test(test_media_goes_to_the_offered_address_when_it_is_the_signalling_peer),
        cmocka_unit_test(test_a_third_party_in_sdp_gets_nothing_until_media_comes_from_it),
        cmocka_unit_test(test_media_from_the_offered_address_latches_where_it_came_from),
        cmocka_unit_test(test_a_new_offer_to_other_media_drops_the_latch_and_a_repeat_keeps_it),
        cmocka_unit_test(test_without_a_known_signalling_peer_nothing_is_sent_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
