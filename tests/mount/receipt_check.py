#!/usr/bin/env python3
# receipt_check.py - checks a receipt mail (docs/receipts.md): its subject
# names the job, the number and the result, its Message-ID is the
# delivery's own, and it carries report-JOB.pdf, which is saved to OUT.
# usage: receipt_check.py MAIL JOB NUMBER RESULT OUT.pdf
import email
import email.policy
import sys


def main(path, job, number, result, out):
    raw = open(path, 'rb').read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)

    def want(cond, what):
        if not cond:
            sys.exit('FAIL: %s\n%s' % (what, raw[:2000].decode('utf-8', 'replace')))

    subject = str(msg['Subject'])
    want(('Fax %s to ' % job) in subject and number in subject and (': %s' % result) in subject,
         'subject %r' % subject)
    want(str(msg['Message-ID']).startswith('<faxfs.%s.1@' % job), 'Message-ID %r' % msg['Message-ID'])
    want(('history/%s/report.pdf' % job) in msg.get_body(('plain',)).get_content(), 'the text names the report')
    pdfs = [p for p in msg.iter_attachments() if p.get_filename() == 'report-%s.pdf' % job]
    want(len(pdfs) == 1, 'no report-%s.pdf attached' % job)
    want(pdfs[0].get_content_type() == 'application/pdf', 'content type %s' % pdfs[0].get_content_type())
    data = pdfs[0].get_content()
    want(data.startswith(b'%PDF-'), 'the attachment is not a PDF')
    open(out, 'wb').write(data)


if __name__ == '__main__':
    if len(sys.argv) != 6:
        sys.exit('usage: receipt_check.py MAIL JOB NUMBER RESULT OUT.pdf')
    main(*sys.argv[1:])
