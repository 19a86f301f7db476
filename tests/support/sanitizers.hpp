// Which sanitizer this test binary is built with. Tests that replace the global operator new
// (to count allocations) cannot do so under TSan, whose runtime defines it, and cannot replace
// malloc under ASan or TSan either.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define CORIO_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_TEST_TSAN 1
#endif
#endif
#ifndef CORIO_TEST_TSAN
#define CORIO_TEST_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_TEST_ASAN 1
#endif
#endif
#ifndef CORIO_TEST_ASAN
#define CORIO_TEST_ASAN 0
#endif

// Whether this binary may define the global operator new.
#define CORIO_TEST_CAN_REPLACE_NEW (!CORIO_TEST_TSAN)
// Whether it may define malloc (sanitizers own it).
#define CORIO_TEST_CAN_REPLACE_MALLOC (!CORIO_TEST_TSAN && !CORIO_TEST_ASAN)
