"""Measurement in ISO/IEC 19795-1 terms: ROC/DET, EER, TAR@FAR, cross-validated accuracy, FTE."""
