/*
 * banned.h - C library functions MusicFS code must not call.
 *
 * Each is replaced by a macro that expands to an undeclared identifier
 * naming the reason, so a use fails to compile.  Use the bounded
 * alternatives in common/str.h and common/buf.h instead.
 */
#ifndef MFS_COMMON_BANNED_H
#define MFS_COMMON_BANNED_H

#define MFS_BANNED(func) sorry_##func##_is_banned_use_a_bounded_alternative

#undef strcpy
#define strcpy(x, y) MFS_BANNED(strcpy)
#undef strcat
#define strcat(x, y) MFS_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) MFS_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) MFS_BANNED(strncat)
#undef sprintf
#define sprintf(...) MFS_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) MFS_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) MFS_BANNED(strtok)
#undef atoi
#define atoi(x) MFS_BANNED(atoi)
#undef atol
#define atol(x) MFS_BANNED(atol)
#undef gets
#define gets(x) MFS_BANNED(gets)

#endif
