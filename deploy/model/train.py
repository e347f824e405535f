"""Train an example model and write it with joblib: ``python train.py OUT_FILE [iris|churn]``.

Run it with the model server's own interpreter (the same scikit-learn that will load the file).
``iris`` (the default) is ``IrisClassifier``'s model, ``churn`` ``ChurnClassifier``'s pipeline.
"""

import sys

import joblib

if __name__ == "__main__":
    kind = sys.argv[2] if len(sys.argv) > 2 else "iris"
    if kind == "churn":
        from ChurnClassifier import train
    else:
        from IrisClassifier import train
    joblib.dump(train(), sys.argv[1])
