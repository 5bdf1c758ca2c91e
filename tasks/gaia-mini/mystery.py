"""A small puzzle: what does mystery(n) return?"""


def mystery(n: int) -> int:
    total = 0
    for i in range(1, n + 1):
        if i % 3 == 0 or "7" in str(i):
            total += i * (i % 5 + 1)
        else:
            total -= i // 4
    return total


if __name__ == "__main__":
    print(mystery(10))
