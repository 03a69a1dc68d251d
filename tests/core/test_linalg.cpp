#include <gtest/gtest.h>
TEST(Dummy, Builds) { EXPECT_TRUE(true); }
