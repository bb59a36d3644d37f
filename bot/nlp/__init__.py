"""Chinese complaint understanding: normalisation, keyword classification, risk signals.

jieba, OpenCC, cn2an and scikit-learn are imported under this package only.
"""
