/*
 * test_queue_number_pattern.c - the one pattern syntax of number rules:
 * a table of patterns, numbers and verdicts, and the patterns refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "queue/number_pattern.h"

static void test_matching_table(void **state)
{
    (void)state;
    static const struct { const char *pattern, *number; bool match; } cases[] = {
        {"+4420*", "+442079460958", true},
        {"+4420*", "+4420", true},
        {"+4420*", "+44161", false},
        {"+4420*", "4420123", false}, /* the + is literal */
        {"555XXXX", "5551234", true},
        {"555XXXX", "555123", false},
        {"555XXXX", "55512345", false},
        {"555xxxx", "5559999", true},
        {"5550101", "5550101", true},
        {"5550101", "55501011", false},
        {"5550101", "555010", false},
        {"*", "", true},
        {"*", "+18005550100", true},
        {"1900*", "19005551234", true},
        {"1900*", "+19005551234", false},
        {"X*", "", false},
        {"X*", "7", true},
        {"+X", "+1", true},
        {"+X", "1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (number_pattern_matches(cases[i].pattern, cases[i].number) != cases[i].match)
            fail_msg("'%s' against '%s' should be %s", cases[i].pattern, cases[i].number,
                     cases[i].match ? "a match" : "no match");
}

static void test_bad_patterns_are_refused_and_match_nothing(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "+", "44*20", "**", "+44 20*", "44-20", "4?", "++44", "abc",
                                      "1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[160] = "";
        assert_int_equal(number_pattern_check(bad[i], why, sizeof why), -EINVAL);
        assert_true(strlen(why) > 0);
        assert_false(number_pattern_matches(bad[i], "4420"));
    }
    char why[160];
    assert_int_equal(number_pattern_check("+4420*", why, sizeof why), 0);
    assert_int_equal(number_pattern_check("*", why, sizeof why), 0);
}

static void test_literals_rank_specificity(void **state)
{
    (void)state;
    assert_int_equal(number_pattern_literals("*"), 0);
    assert_int_equal(number_pattern_literals("+4420*"), 5);
    assert_int_equal(number_pattern_literals("555XXXX"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching_table),
        cmocka_unit_test(test_bad_patterns_are_refused_and_match_nothing),
        cmocka_unit_test(test_literals_rank_specificity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
