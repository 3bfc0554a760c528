/* testing: includes and helpers every cmocka unit test shares. */
#ifndef IPAMWATCH_TESTING_H
#define IPAMWATCH_TESTING_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

/* Seed for randomized tests: IPAMWATCH_SEED from the environment, else time-based. The seed
 * is printed as a TAP comment so a failing run can be replayed. */
static inline unsigned testing_seed(void)
{
    const char *s = getenv("IPAMWATCH_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    printf("# seed %u (replay with IPAMWATCH_SEED=%u)\n", seed, seed);
    return seed;
}

#endif
