"""Word lists the answer signals read questions and sentences with: number words,
months, times of day, nationality adjectives."""

from __future__ import annotations

NUMBER_WORDS = {
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "million",
    "millions",
    "billion",
    "billions",
    "dozen",
    "dozens",
    "half",
}
MONTHS = {
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
}
# Days and times of day also answer "when" ("on Thursdays" as much as "on Thursday").
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIME_WORDS = {
    *WEEKDAYS,
    *(f"{day}s" for day in WEEKDAYS),
    "weekends",
    "today",
    "tomorrow",
    "yesterday",
    "tonight",
    "noon",
    "midnight",
    "morning",
    "afternoon",
    "evening",
    "ago",
    "later",
    "am",
    "pm",
    "week",
    "weekend",
}


def is_demonym(word: str) -> bool:
    # "Mexican", "American", "Canadian", "Chinese", "European": adjectives of nationality
    # (and of a continent), not names.
    return word in DEMONYMS or (
        word.endswith(("ican", "ian", "ese", "ish", "ean")) and len(word) > 5
    )


# Those of no common ending.
DEMONYMS = frozenset(
    "german french dutch greek swiss thai welsh irish czech slovak arab arabic israeli "
    "iraqi pakistani saudi filipino".split()
)


ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
)
