/*
 * test_modem_hostport.c - the one HOST:PORT reader of modem/: the
 * AudioSocket listen address needs a port, the SIP addresses may leave
 * it out (and then keep their default), and brackets mark IPv6.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modem/hostport.h"

struct split {
    char host[64];
    char port[16];
    int rc;
};

static struct split split(const char *spec, enum hostport_port need)
{
    struct split s = { .port = "5060" };
    s.rc = hostport_split(spec, need, s.host, sizeof s.host, s.port, sizeof s.port);
    return s;
}

static void test_host_and_port_split_at_the_last_colon(void **state)
{
    (void)state;
    struct split s = split("127.0.0.1:9092", HOSTPORT_PORT_REQUIRED);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.host, "127.0.0.1");
    assert_string_equal(s.port, "9092");
    s = split("::1:9092", HOSTPORT_PORT_REQUIRED);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.host, "::1");
    assert_string_equal(s.port, "9092");
}

static void test_bracketed_ipv6_address_keeps_its_colons(void **state)
{
    (void)state;
    struct split s = split("[::1]:9092", HOSTPORT_PORT_REQUIRED);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.host, "::1");
    assert_string_equal(s.port, "9092");
    s = split("[fe80::1]", HOSTPORT_PORT_OPTIONAL);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.host, "fe80::1");
    assert_string_equal(s.port, "5060");
}

static void test_required_port_missing_is_refused(void **state)
{
    (void)state;
    assert_int_equal(split("127.0.0.1", HOSTPORT_PORT_REQUIRED).rc, -EINVAL);
    assert_int_equal(split("127.0.0.1:", HOSTPORT_PORT_REQUIRED).rc, -EINVAL);
    assert_int_equal(split("[::1]", HOSTPORT_PORT_REQUIRED).rc, -EINVAL);
    assert_int_equal(split("[::1]x", HOSTPORT_PORT_REQUIRED).rc, -EINVAL);
    assert_int_equal(split(":9092", HOSTPORT_PORT_REQUIRED).rc, -EINVAL);
}

static void test_optional_port_keeps_its_default_and_bare_ipv6_is_a_host(void **state)
{
    (void)state;
    struct split s = split("pbx.example", HOSTPORT_PORT_OPTIONAL);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.host, "pbx.example");
    assert_string_equal(s.port, "5060");
    s = split("pbx.example:5080", HOSTPORT_PORT_OPTIONAL);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.port, "5080");
    s = split("2001:db8::5", HOSTPORT_PORT_OPTIONAL);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.host, "2001:db8::5");
    assert_string_equal(s.port, "5060");
}

static void test_missing_host_or_bracket_is_refused(void **state)
{
    (void)state;
    assert_int_equal(split("", HOSTPORT_PORT_OPTIONAL).rc, -EINVAL);
    assert_int_equal(split(":5060", HOSTPORT_PORT_OPTIONAL).rc, -EINVAL);
    assert_int_equal(split("[::1:5060", HOSTPORT_PORT_OPTIONAL).rc, -EINVAL);
}

/* The source address towards a numeric peer and towards a name (which
 * is resolved; "localhost" is in every /etc/hosts). */
static void test_route_source_of_an_address_and_of_a_name(void **state)
{
    (void)state;
    char out[64];
    bool v6 = true;
    assert_int_equal(hostport_route_source("127.0.0.1", "5060", out, sizeof out, &v6), 0);
    assert_string_equal(out, "127.0.0.1");
    assert_false(v6);
    assert_int_equal(hostport_route_source("localhost", "5060", out, sizeof out, &v6), 0);
    assert_true(strcmp(out, v6 ? "::1" : "127.0.0.1") == 0);
    assert_int_equal(hostport_route_source("no-such-host.invalid", "5060", out, sizeof out, &v6), -EHOSTUNREACH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_and_port_split_at_the_last_colon),
        cmocka_unit_test(test_bracketed_ipv6_address_keeps_its_colons),
        cmocka_unit_test(test_required_port_missing_is_refused),
        cmocka_unit_test(test_optional_port_keeps_its_default_and_bare_ipv6_is_a_host),
        cmocka_unit_test(test_missing_host_or_bracket_is_refused),
        cmocka_unit_test(test_route_source_of_an_address_and_of_a_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
